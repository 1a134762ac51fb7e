// The golden case handlers: every module in test/golden/kinds/ exports `kind` (a manifest kind or
// a list of them) and `run(caseSpec, ctx)`. Adding a kind is adding a module; two modules claiming
// one kind is an error.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const kindsDir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'kinds');

export async function loadHandlers() {
  const handlers = new Map();
  for (const file of readdirSync(kindsDir).filter((f) => f.endsWith('.mjs')).sort()) {
    const mod = await import(pathToFileURL(path.join(kindsDir, file)).href);
    if (typeof mod.run !== 'function') throw new Error(`golden handler ${file} exports no run()`);
    for (const kind of [].concat(mod.kind)) {
      if (typeof kind !== 'string') throw new Error(`golden handler ${file} exports no kind`);
      if (handlers.has(kind)) throw new Error(`golden kind '${kind}' is claimed by ${handlers.get(kind).file} and ${file}`);
      handlers.set(kind, { file, run: mod.run });
    }
  }
  return handlers;
}
