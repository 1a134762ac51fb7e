// Where the fixtures are and how to read them. Tests never read ../shared: the fixtures are
// copied into test/fixtures; INDETAIL_FIXTURES points the golden suite at another root laid out
// the same way (golden/manifest.json plus the model folders it names).
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const fixturesRoot = path.resolve(repoRoot, process.env.INDETAIL_FIXTURES ?? 'test/fixtures');

export function fixturePath(...parts) {
  return path.join(fixturesRoot, ...parts);
}

export function loadManifest(root = fixturesRoot) {
  const file = path.join(root, 'golden', 'manifest.json');
  if (!existsSync(file)) throw new Error(`no golden manifest at ${file} (set INDETAIL_FIXTURES to a fixture root)`);
  return JSON.parse(readFileSync(file, 'utf8'));
}

export function findCase(name, manifest = loadManifest()) {
  const c = manifest.cases.find((x) => x.name === name);
  if (!c) throw new Error(`golden case '${name}' is not in the manifest`);
  return c;
}
