// Every op of the case table (bench/cases/op-cases.mjs) on the CUDA backend against the CPU
// backend (F32 reference). Skips with the reason where there is no GPU.
//
// Tolerance: a CUDA kernel stores inputs, weights and outputs in 16 bits and accumulates in
// F32, so its honest error is that of the same op computed exactly on 16-bit-rounded inputs and
// rounded to 16 bits at the end. We measure exactly that: ref16 = round(cpu_op(round(inputs)))
// (round = the engine's round-to-nearest-even into f16 or bf16; F32 biases, norm parameters,
// timesteps and ids are not rounded, as on the GPU) and require
//     max |cuda − ref32| ≤ 2 · max |ref16 − ref32| + ulp(max |ref32|) + 1e-6
// The factor 2 leaves room for a different F32 summation order and for the output rounding
// landing on the other side of a tie; the ulp floor (one unit in the last place of the largest
// output, in the storage type) covers outputs that ref16 happens to reproduce exactly.
// Environment: INDETAIL_PARITY_FILTER=<regexp> runs only matching cases; INDETAIL_PARITY_LOG=<file>
// appends each case's line as soon as it is known (survives a run killed by a time limit);
// INDETAIL_PARITY_BUDGET_S=<seconds> starts no new case after that long and reports how many
// were not run.
import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import { test } from 'node:test';
import { Engine } from '../../dist/index.js';
import { buildCase, cases, describeShapes, instantiate, roundArray, ulpOf } from '../../bench/cases/op-cases.mjs';
import { cudaSkipReason } from '../helpers/backends.mjs';

const skip = cudaSkipReason();
if (skip) console.log(skip);

const filter = process.env.INDETAIL_PARITY_FILTER ? new RegExp(process.env.INDETAIL_PARITY_FILTER) : null;
const selected = cases.filter((c) => !filter || filter.test(c.name));
// bf16 runs every case but the big GEMMs (same kernels as f16 apart from the mma type, which
// the smaller GEMM cases cover); their CPU references dominate the run time.
const HEAVY_FLOPS = 2e9;
const logFile = process.env.INDETAIL_PARITY_LOG;
const budgetMs = process.env.INDETAIL_PARITY_BUDGET_S ? 1000 * Number(process.env.INDETAIL_PARITY_BUDGET_S) : Infinity;
const started = Date.now();
const log = (line) => {
  if (logFile) appendFileSync(logFile, `${line}\n`);
};

async function runOn(engine, host, spec, round) {
  const inst = instantiate(engine, host, spec, round);
  try {
    await engine.op(spec.op, inst.args);
    return await inst.out.readFloat32();
  } finally {
    inst.dispose();
  }
}
function compare(got, ref, ref16, precision) {
  let maxErr = 0, maxRef16 = 0, maxRef = 0, worst = 0, nan = 0;
  for (let i = 0; i < ref.length; i++) {
    const r = ref[i];
    const d = Math.abs(got[i] - r);
    if (Number.isNaN(d) && !Number.isNaN(r)) nan++;
    if (d > maxErr || (Number.isNaN(d) && maxErr !== Infinity)) {
      maxErr = Number.isNaN(d) ? Infinity : d;
      worst = i;
    }
    const d16 = Math.abs(ref16[i] - r);
    if (d16 > maxRef16) maxRef16 = d16;
    if (Math.abs(r) > maxRef) maxRef = Math.abs(r);
  }
  const tol = 2 * maxRef16 + ulpOf(maxRef, precision) + 1e-6;
  let violations = 0, first = -1;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(got[i] - ref[i]);
    if (!(d <= tol)) {
      violations++;
      if (first < 0) first = i;
    }
  }
  return { maxErr, tol, maxRef16, maxRef, worst, violations, first, nan, pass: violations === 0 && nan === 0 };
}

function coords(index, shape) {
  const c = [];
  for (let d = shape.length - 1; d >= 0; d--) {
    c.unshift(index % shape[d]);
    index = Math.floor(index / shape[d]);
  }
  return `[${c.join(',')}]`;
}

const e = (v) => (Number.isFinite(v) ? v.toExponential(2) : String(v));

// CPU references are shared by both precisions (ref32) or computed per precision (ref16).
const ref32Cache = new Map();

for (const precision of ['f16', 'bf16']) {
  test(`CUDA ops match the CPU reference (${precision})`, { skip: skip ?? false }, async (t) => {
    const cpu = new Engine({ backend: 'cpu' });
    const gpu = new Engine({ backend: 'cuda', precision });
    const round = (d) => roundArray(d, precision);
    const failures = [];
    let ran = 0, notRun = 0;
    try {
      for (const c of selected) {
        if (precision === 'bf16' && c.flops > HEAVY_FLOPS) continue;
        if (Date.now() - started > budgetMs) {
          notRun++;
          continue;
        }
        const spec = { ...buildCase(c), op: c.op };
        const shape = spec.out.shape;
        const label = `${c.op} | ${c.name}`;
        let line;
        try {
          let ref = ref32Cache.get(c.name);
          if (!ref) {
            ref = await runOn(cpu, cpu, spec, null);
            ref32Cache.set(c.name, ref);
          }
          const ref16 = roundArray(await runOn(cpu, cpu, spec, round), precision);
          const got = await runOn(gpu, cpu, spec, null);
          const r = compare(got, ref, ref16, precision);
          line =
            `${r.pass ? 'PASS' : 'FAIL'} ${label} out[${shape.join(',')}] err ${e(r.maxErr)} tol ${e(r.tol)} ` +
            `(ref16 ${e(r.maxRef16)}, max|ref| ${e(r.maxRef)})`;
          if (!r.pass) {
            line +=
              ` | ${r.violations}/${ref.length} over tol${r.nan ? `, ${r.nan} NaN` : ''}; first at ${coords(r.first, shape)} ` +
              `got ${got[r.first]} want ${ref[r.first]}; worst at ${coords(r.worst, shape)} got ${got[r.worst]} ` +
              `want ${ref[r.worst]}; inputs ${describeShapes(spec)} params ${JSON.stringify(spec.params)}`;
            failures.push(line);
          }
        } catch (err) {
          line = `ERROR ${label}: ${err.code ?? ''} ${err.message}`;
          failures.push(line);
        }
        ran++;
        log(`${precision} ${line}`);
        t.diagnostic(line);
      }
    } finally {
      gpu.dispose();
      cpu.dispose();
    }
    const summary = `${precision}: ${ran - failures.length}/${ran} cases pass` +
      (notRun ? `, ${notRun} NOT RUN (INDETAIL_PARITY_BUDGET_S exceeded)` : '');
    log(summary);
    t.diagnostic(summary);
    assert.equal(failures.length, 0, `${failures.length} of ${ran} cases failed:\n${failures.join('\n')}`);
  });
}
