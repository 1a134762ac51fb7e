// The golden suite: every case of the fixture manifest, run by the handler of its kind
// (test/golden/kinds/<kind>.mjs). Kinds without a handler are reported as skipped by name; a
// case whose files are missing fails. INDETAIL_FIXTURES selects another fixture root laid out
// like test/fixtures (golden/manifest.json plus the model folders it names).
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { fixturesRoot, loadManifest } from './helpers/fixtures.mjs';

const kindsDir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'golden', 'kinds');
const handlers = new Map();
for (const file of readdirSync(kindsDir).filter((f) => f.endsWith('.mjs')).sort()) {
  const mod = await import(pathToFileURL(path.join(kindsDir, file)).href);
  for (const kind of [].concat(mod.kind)) handlers.set(kind, mod);
}

const manifest = loadManifest(fixturesRoot);
const ctx = { root: fixturesRoot, manifest };
console.log(`golden fixtures: ${fixturesRoot} (${manifest.cases.length} cases)`);

for (const c of manifest.cases) {
  const handler = handlers.get(c.kind);
  if (!handler) {
    test(`${c.name} [${c.kind}]`, { skip: `kind '${c.kind}' is not implemented yet` }, () => {});
    continue;
  }
  test(`${c.name} [${c.kind}]`, async (t) => {
    const file = path.join(fixturesRoot, c.file);
    assert.ok(existsSync(file), `golden file ${c.file} of case ${c.name} is missing under ${fixturesRoot}`);
    await handler.run(c, { ...ctx, file, t });
  });
}
