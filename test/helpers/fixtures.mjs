// Where the fixtures are and how to read them. Tests never read ../shared: the fixtures are
// copied into test/ as fixture roots, each laid out like test/fixtures (golden/manifest.json plus
// the model folders its model_dirs name). test/fixtures is the SD1.5 root most tests use directly
// (fixturePath); the golden suite runs over every root (goldenRoots), or over the roots named by
// INDETAIL_FIXTURES (one path, or several separated by the platform's path delimiter).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The SD1.5 fixture root. */
export const fixturesRoot = path.join(repoRoot, 'test', 'fixtures');
/** The SD2.1 (v-prediction) fixture root. */
export const sd21Root = path.join(repoRoot, 'test', 'fixtures-sd21v');

export function fixturePath(...parts) {
  return path.join(fixturesRoot, ...parts);
}

/** The fixture roots of the golden suite: INDETAIL_FIXTURES when set, else every test/fixtures* with a manifest. */
export function goldenRoots() {
  const env = process.env.INDETAIL_FIXTURES;
  if (env) return env.split(path.delimiter).filter(Boolean).map((p) => path.resolve(repoRoot, p));
  const testDir = path.join(repoRoot, 'test');
  return readdirSync(testDir)
    .filter((d) => /^fixtures/.test(d) && existsSync(path.join(testDir, d, 'golden', 'manifest.json')))
    .sort()
    .map((d) => path.join(testDir, d));
}

export function loadManifest(root = fixturesRoot) {
  const file = path.join(root, 'golden', 'manifest.json');
  if (!existsSync(file)) throw new Error(`no golden manifest at ${file} (INDETAIL_FIXTURES must name fixture roots)`);
  return JSON.parse(readFileSync(file, 'utf8'));
}

export function findCase(name, manifest = loadManifest()) {
  const c = manifest.cases.find((x) => x.name === name);
  if (!c) throw new Error(`golden case '${name}' is not in the manifest`);
  return c;
}

/** A model folder named by the manifest (model_dirs.diffusers, .controlnet, .single_file), checked to be there. */
export function modelDir(ctx, which, ...parts) {
  const dir = ctx.manifest.model_dirs?.[which];
  if (typeof dir !== 'string') throw new Error(`${ctx.root}: the manifest has no model_dirs.${which}`);
  return path.join(ctx.root, dir, ...parts);
}

/** Fails naming any input or output tensor of a case that its handler does not feed or check. */
export function assertCaseTensors(c, { inputs = [], outputs = [] }) {
  const names = (x) => (Array.isArray(x) ? x : Object.keys(x ?? {}));
  const extraIn = names(c.inputs).filter((n) => !inputs.includes(n));
  const extraOut = names(c.outputs).filter((n) => !outputs.includes(n));
  if (extraIn.length || extraOut.length) {
    throw new Error(
      `${c.name} [${c.kind}]: ${[extraIn.length ? `inputs ${extraIn.join(', ')}` : '', extraOut.length ? `outputs ${extraOut.join(', ')}` : ''].filter(Boolean).join(' and ')} ` +
        `are not handled (this handler knows inputs ${inputs.join(', ') || 'none'}; outputs ${outputs.join(', ') || 'none'})`,
    );
  }
}
