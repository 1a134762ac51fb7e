// The golden pipeline cases of every fixture root (SD1.5, SD2.1 v-prediction, SDXL, ...:
// inversion, guided denoising with the image-prompt attention, ControlNet, decoding: every model
// and op of the method) in the CPU's bf16 precision (the VAE too, by precision.ts's rule), held to
// the rule of the CUDA parity tests: "twice the error of a reduced-precision re-implementation of
// the reference, plus one ulp".
//
//   reference:                  the fixtures (the authors' code in fp32)
//   bf16 re-implementation:     the same pipeline with every convolution, linear and attention
//                               operand rounded to bf16 and fp32 accumulation, run on the fp32
//                               kernels (INDETAIL_CPU_LEVEL=avx512, in a child process)
//   bound, per stage:           |bf16 tier - fixture| <= 2 · |re-implementation - fixture|
//                                                      + 2^-7 · max(1, max |fixture|)
// Stages: the prompt embeddings of every row (SDXL: also the pooled embeddings and the time ids),
// the inversion chain, the initial latents, the latents of every step, the final latents, the
// decoded images and the 8-bit images. The tier under test runs at this CPU's own level
// (vdpbf16ps, or AMX tiles); where the CPU has neither, it would be the re-implementation itself
// and the test skips with that reason. A wrong operand, pairing or policy moves latents by
// O(1)-O(10), far outside the bound. (The fp32 golden suite keeps the fixture tolerances.)
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildInfo, cpuHasBf16 } from '../dist/index.js';
import { pipelineCases, pipelineErrors } from './helpers/golden-pipeline-errors.mjs';
import { storageUlp } from './helpers/low-precision.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const cases = pipelineCases();
const skip = cpuHasBf16() ? false : `this CPU runs at ${buildInfo().cpuFeatures}, without AVX512-BF16 or AMX: its bf16 tier is the fp32-kernel re-implementation itself`;
if (skip) console.log(`# bf16 golden pass skipped: ${skip}`);

// The re-implementation's errors for every case, from one child process at INDETAIL_CPU_LEVEL=avx512.
let reference;
function referenceErrors() {
  if (reference) return reference;
  const env = { ...process.env, INDETAIL_CPU_LEVEL: 'avx512' };
  delete env.NODE_TEST_CONTEXT;
  const helper = pathToFileURL(path.join(here, 'helpers', 'golden-pipeline-errors.mjs')).href;
  const script = [
    `const { pipelineCases, pipelineErrors } = await import(${JSON.stringify(helper)});`,
    'const out = {};',
    "for (const c of pipelineCases()) out[c.id] = await pipelineErrors(c.id, 'bf16');",
    "console.log('REFERENCE ' + JSON.stringify(out));",
  ].join('\n');
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: here, env, encoding: 'utf8', maxBuffer: 1 << 26 });
  const line = r.stdout.split('\n').find((l) => l.startsWith('REFERENCE '));
  assert.ok(line && r.status === 0, `the bf16 re-implementation (INDETAIL_CPU_LEVEL=avx512) failed:\n${r.stdout}\n${r.stderr}`);
  reference = JSON.parse(line.slice('REFERENCE '.length));
  return reference;
}

for (const c of cases) {
  test(`${c.manifest.model} ${c.case.name} in bf16 within 2x the error of a bf16 re-implementation`, { skip }, async (t) => {
    const ref = referenceErrors()[c.id];
    const got = await pipelineErrors(c.id, 'bf16');
    assert.deepEqual(got.map((r) => r.name), ref.map((r) => r.name), 'the same stages');
    const bad = [];
    for (const [i, r] of got.entries()) {
      const bound = 2 * ref[i].maxAbs + storageUlp.bf16 * Math.max(1, r.scale);
      t.diagnostic(`${r.name}: max abs ${r.maxAbs.toExponential(2)}, re-implementation ${ref[i].maxAbs.toExponential(2)}, bound ${bound.toExponential(2)}`);
      if (!(r.maxAbs <= bound)) bad.push(`${r.name} ${r.maxAbs.toExponential(2)} > ${bound.toExponential(2)}`);
    }
    assert.equal(bad.length, 0, `outside the bf16 bound: ${bad.join('; ')}`);
  });
}
