// The golden suite: every case of every fixture root's manifest (test/fixtures* by default, or
// the roots INDETAIL_FIXTURES names), each run by the handler of its kind (test/golden/kinds/).
// Everything a case needs comes from the case and its manifest; a case whose kind has no handler,
// or whose files are missing, fails.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { loadHandlers } from './golden/handlers.mjs';
import { goldenRoots, loadManifest } from './helpers/fixtures.mjs';

const handlers = await loadHandlers();
const roots = goldenRoots();
assert.ok(roots.length > 0, 'no fixture roots found (test/fixtures*/golden/manifest.json)');

for (const root of roots) {
  const manifest = loadManifest(root);
  const ctx = { root, manifest };
  describe(`${path.relative(process.cwd(), root) || root} (${manifest.model}, ${manifest.cases.length} cases)`, () => {
    for (const c of manifest.cases) {
      test(`${c.name} [${c.kind}]`, async (t) => {
        const handler = handlers.get(c.kind);
        assert.ok(handler, `no handler for kind '${c.kind}' (known: ${[...handlers.keys()].sort().join(', ')}); add test/golden/kinds/${c.kind}.mjs`);
        const file = path.join(root, c.file);
        assert.ok(existsSync(file), `golden file ${c.file} of case ${c.name} is missing under ${root}`);
        await handler.run(c, { ...ctx, file, t });
      });
    }
  });
}
