// The errors of one golden pipeline case against its fixture, stage by stage, in a given CPU
// precision: rows of (stage, max abs error, largest golden magnitude). Shared by the bf16 golden
// pass and the child process that computes its reference errors.
import path from 'node:path';
import { runPipelineCase } from '../golden/kinds/pipeline.mjs';
import { fixturesRoot, loadManifest } from './fixtures.mjs';

const manifest = loadManifest();

export function pipelineCases() {
  return manifest.cases.filter((c) => c.kind === 'pipeline');
}

export async function pipelineErrors(caseName, precision) {
  const c = pipelineCases().find((x) => x.name === caseName);
  const ctx = { root: fixturesRoot, manifest, file: path.join(fixturesRoot, c.file) };
  const measureOnly = { latents: { atol: Infinity, rtol: 0 }, decoded: { atol: Infinity, rtol: 0 }, u8: Infinity };
  const { rows } = await runPipelineCase(c, ctx, { precision, bounds: measureOnly });
  return rows.map((r) => ({ name: r.name, maxAbs: r.maxAbs, scale: r.scale }));
}
