// CUDA op kernels at Stable Diffusion 1.5 shapes (the 'sd' cases of bench/cases/op-cases.mjs):
// device time per call (CUDA events, calls queued back to back, L2 flushed before each call),
// TFLOP/s and % of the card's dense fp16 tensor peak for GEMM-like ops, GB/s (the minimum
// traffic: every input read once, the output written once) and % of the card's memory bandwidth.
import { Engine, backends, buildInfo, devices } from '../../dist/index.js';
import { buildCase, caseBytes, cases, instantiate } from '../cases/op-cases.mjs';

export const name = 'cuda-ops';
export const description = 'CUDA op kernels at SD1.5 shapes: time, TFLOP/s, GB/s vs the card peak';

// Dense fp16 tensor-core peak (F32 accumulate) and memory bandwidth, from the vendor sheets.
const CARDS = [
  { match: /GH200/i, card: 'GH200', tflops: 989, gbs: 4000 },
  { match: /H200/i, card: 'H200', tflops: 989, gbs: 4800 },
  { match: /H100.*PCIe/i, card: 'H100 PCIe', tflops: 756, gbs: 2000 },
  { match: /H100.*NVL/i, card: 'H100 NVL', tflops: 835, gbs: 3900 },
  { match: /H100/i, card: 'H100 SXM', tflops: 989, gbs: 3350 },
  { match: /A100/i, card: 'A100', tflops: 312, gbs: 2039 },
  { match: /L40S/i, card: 'L40S', tflops: 362, gbs: 864 },
  { match: /RTX 4090/i, card: 'RTX 4090', tflops: 165, gbs: 1008 },
];

// Also measured in bf16 (the rest only in the default f16).
const HEADLINE = [
  'conv2d 3x3 320->320 64x64 b2 +bias +tbias',
  'conv2d 3x3 1280->1280 8x8 b2 +bias +res (split-K)',
  'linear_geglu ff 8192x320->2560 (F 1280)',
  'group_norm+silu 320ch 64x64 b2',
];

export async function run({ quick = false } = {}) {
  if (!backends().includes('cuda')) return { skipped: `no CUDA device (${buildInfo().cudaUnavailableReason})` };
  const dev = devices()[0];
  const peak = CARDS.find((c) => c.match.test(dev.name)) ?? null;
  const host = new Engine({ backend: 'cpu' });
  const rows = [];
  const iterations = quick ? 10 : 40;
  let timer = '';
  for (const precision of ['f16', 'bf16']) {
    const gpu = new Engine({ backend: 'cuda', precision });
    try {
      for (const c of cases) {
        if (!c.tags.includes('sd')) continue;
        if (precision === 'bf16' && !HEADLINE.includes(c.name)) continue;
        const spec = buildCase(c);
        const inst = instantiate(gpu, host, spec);
        try {
          const r = await gpu.timeOp(c.op, inst.args, { warmup: 3, iterations, flushL2: true });
          timer = r.timer;
          const s = r.seconds;
          const tflops = c.flops ? c.flops / s / 1e12 : null;
          const gbs = caseBytes(spec) / s / 1e9;
          rows.push({
            case: c.name,
            dtype: precision,
            us: s * 1e6,
            'min us': r.min * 1e6,
            'TFLOP/s': tflops,
            '%peak': tflops !== null && peak ? (100 * tflops) / peak.tflops : null,
            'GB/s': gbs,
            '%BW': peak ? (100 * gbs) / peak.gbs : null,
          });
        } finally {
          inst.dispose();
        }
      }
    } finally {
      gpu.dispose();
    }
  }
  host.dispose();
  const notes = [
    `device: ${dev.name} (cc ${dev.computeCapability}, ${dev.multiprocessors} SMs)`,
    peak
      ? `peaks: ${peak.card} dense fp16 ${peak.tflops} TFLOP/s, ${peak.gbs} GB/s`
      : `unknown card: no peak figures (add it to CARDS in bench/suites/cuda-ops.mjs)`,
    `timer: ${timer}; median of ${iterations} calls, each after an L2 flush; GB/s = minimum traffic / time`,
  ];
  return { rows, columns: ['case', 'dtype', 'us', 'min us', 'TFLOP/s', '%peak', 'GB/s', '%BW'], notes, device: dev, peak };
}
