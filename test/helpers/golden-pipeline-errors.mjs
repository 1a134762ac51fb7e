// The errors of one golden pipeline case against its fixture, stage by stage, in a given CPU
// precision: rows of (stage, max abs error, largest golden magnitude). The cases are every
// pipeline case of every fixture root (goldenRoots: test/fixtures* or INDETAIL_FIXTURES), each
// named "<root folder>/<case>". Shared by the bf16 golden pass and the child process that
// computes its reference errors.
import path from 'node:path';
import { runPipelineCase } from '../golden/kinds/pipeline.mjs';
import { goldenRoots, loadManifest } from './fixtures.mjs';

/** { id, root, manifest, case } of every pipeline case of every fixture root that holds some. */
export function pipelineCases() {
  return goldenRoots().flatMap((root) => {
    const manifest = loadManifest(root);
    return manifest.cases.filter((c) => c.kind === 'pipeline').map((c) => ({ id: `${path.basename(root)}/${c.name}`, root, manifest, case: c }));
  });
}

export async function pipelineErrors(id, precision) {
  const found = pipelineCases().find((x) => x.id === id);
  if (!found) throw new Error(`no pipeline case '${id}' in the fixture roots`);
  const { root, manifest, case: c } = found;
  const ctx = { root, manifest, file: path.join(root, c.file) };
  const measureOnly = { latents: { atol: Infinity, rtol: 0 }, decoded: { atol: Infinity, rtol: 0 }, u8: Infinity };
  const { rows } = await runPipelineCase(c, ctx, { precision, bounds: measureOnly });
  return rows.map((r) => ({ name: r.name, maxAbs: r.maxAbs, scale: r.scale }));
}
