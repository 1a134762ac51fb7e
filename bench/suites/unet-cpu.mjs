// One full-size SD1.5 UNet forward on the CPU (random weights from configs/sd15/unet), 64×64
// latents (512×512 images), batch 1 and 3, in f32 and bf16 (each in its own process): seconds
// per forward, GFLOP/s over the FLOPs of the graph counted from the config (convolutions,
// linears, attention matmuls; norms and element-wise ops are not counted), peak RSS and the
// resident weights.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine, UNet, buildInfo, cpuHasBf16 } from '../../dist/index.js';
import { lcgNoise } from '../lib/random.mjs';

export const name = 'unet-cpu';
export const description = 'full-size SD1.5 UNet forward on the CPU (random weights), 64x64 latents, batch 1 and 3, f32 and bf16';

const here = fileURLToPath(import.meta.url);
const root = path.resolve(path.dirname(here), '..', '..');

// FLOPs (2 per multiply-add) of one UNet forward, walked from the normalised config exactly as
// the graph is built (engine/models/unet*.cc).
export function unetFlops(cfg, { frames, height, width, contextLength }) {
  let flops = 0;
  const conv = (h, w, cin, cout, k) => (flops += 2 * frames * h * w * cin * cout * k * k);
  const linear = (rows, k, n) => (flops += 2 * rows * k * n);
  const attention = (lq, lk, inner) => (flops += 4 * frames * lq * lk * inner);
  const temb = cfg.time_embed_dim;
  const resnet = (h, w, cin, cout) => {
    linear(frames, temb, cout);
    conv(h, w, cin, cout, 3);
    conv(h, w, cout, cout, 3);
    if (cin !== cout) linear(frames * h * w, cin, cout);
  };
  const transformer = (h, w, c, depth, ctxDim) => {
    const l = h * w;
    const rows = frames * l;
    linear(rows, c, c); // proj_in
    for (let d = 0; d < depth; d++) {
      linear(rows, c, 3 * c); // attn1 q, k, v
      attention(l, l, c);
      linear(rows, c, c); // attn1 out
      linear(rows, c, c); // attn2 q
      linear(frames * contextLength, ctxDim, 2 * c); // attn2 k, v
      attention(l, contextLength, c);
      linear(rows, c, c); // attn2 out
      linear(rows, c, 8 * c); // GEGLU projection
      linear(rows, 4 * c, c); // ff out
    }
    linear(rows, c, c); // proj_out
  };
  const boc = cfg.block_out_channels;
  const n = boc.length;
  linear(frames, boc[0], temb);
  linear(frames, temb, temb);
  const sizes = [[height, width]];
  for (let i = 1; i < n; i++) sizes.push(sizes[i - 1].map((s) => Math.ceil(s / 2)));
  conv(height, width, cfg.in_channels, boc[0], cfg.conv_in_kernel);
  const skips = [boc[0]];
  for (let i = 0; i < n; i++) {
    const [h, w] = sizes[i];
    for (let j = 0; j < cfg.layers_per_block[i]; j++) {
      resnet(h, w, j === 0 ? (i === 0 ? boc[0] : boc[i - 1]) : boc[i], boc[i]);
      if (cfg.down_block_types[i] === 'CrossAttnDownBlock2D') transformer(h, w, boc[i], cfg.transformer_layers_per_block[i], cfg.cross_attention_dim[i]);
      skips.push(boc[i]);
    }
    if (i + 1 < n) {
      const [h2, w2] = sizes[i + 1];
      conv(h2, w2, boc[i], boc[i], 3);
      skips.push(boc[i]);
    }
  }
  const [hm, wm] = sizes[n - 1];
  resnet(hm, wm, boc[n - 1], boc[n - 1]);
  transformer(hm, wm, boc[n - 1], cfg.transformer_layers_per_block[n - 1], cfg.cross_attention_dim[n - 1]);
  resnet(hm, wm, boc[n - 1], boc[n - 1]);
  let prev = boc[n - 1];
  for (let i = 0; i < n; i++) {
    const level = n - 1 - i;
    const [h, w] = sizes[level];
    const out = boc[level];
    for (let j = 0; j <= cfg.layers_per_block[level]; j++) {
      resnet(h, w, (j === 0 ? prev : out) + skips.pop(), out);
      if (cfg.up_block_types[i] === 'CrossAttnUpBlock2D') transformer(h, w, out, cfg.reverse_transformer_layers_per_block[i], cfg.cross_attention_dim[level]);
    }
    if (i + 1 < n) {
      const [h2, w2] = sizes[level - 1];
      conv(h2, w2, out, out, 3);
    }
    prev = out;
  }
  conv(height, width, boc[0], cfg.out_channels, cfg.conv_out_kernel);
  return flops;
}

async function runCase(precision, quick) {
  const engine = new Engine({ backend: 'cpu', precision });
  const config = JSON.parse(readFileSync(path.join(root, 'configs', 'sd15', 'unet', 'config.json'), 'utf8'));
  let t0 = performance.now();
  const unet = await UNet.load(engine, { config, weights: { random: 1 } });
  const loadSeconds = (performance.now() - t0) / 1000;
  const weightsGiB = engine.memoryStats().weights / 2 ** 30;
  const size = quick ? 32 : 64;
  const contextLength = 77;
  const ctxDim = unet.config.cross_attention_dim[0];
  const rows = [];
  for (const frames of quick ? [1] : [1, 3]) {
    const sample = engine.tensor(lcgNoise(frames * size * size * 4, 1), [frames, size, size, 4]);
    const context = engine.tensor(lcgNoise(frames * contextLength * ctxDim, 2), [frames, contextLength, ctxDim]);
    const timesteps = Array.from({ length: frames }, (_, i) => 901 - 100 * i);
    const iterations = quick || frames > 1 ? 1 : 2;
    const times = [];
    const cpuTimes = [];
    for (let i = 0; i < iterations; i++) {
      const c0 = process.cpuUsage();
      t0 = performance.now();
      const out = await unet.forward({ sample, context, timesteps });
      times.push((performance.now() - t0) / 1000);
      const c = process.cpuUsage(c0);
      cpuTimes.push((c.user + c.system) / 1e6);
      out.dispose();
    }
    const best = times.indexOf(Math.min(...times));
    const seconds = times[best];
    const gflop = unetFlops(unet.config, { frames, height: size, width: size, contextLength }) / 1e9;
    rows.push({
      case: `batch ${frames}, ${size}x${size} latents`,
      precision,
      iterations,
      seconds,
      'first s': times[0],
      GFLOP: gflop,
      'GFLOP/s': gflop / seconds,
      'CPU s': cpuTimes[best],
      'GFLOP/CPU-s': gflop / cpuTimes[best],
      'peak RSS GiB': (process.resourceUsage().maxRSS * 1024) / 2 ** 30,
      'activations peak GiB': engine.memoryStats().peak / 2 ** 30,
      'weights GiB': weightsGiB,
    });
    sample.dispose();
    context.dispose();
  }
  unet.dispose();
  engine.dispose();
  return { rows, loadSeconds, weightsGiB, kernels: buildInfo().cpuFeatures };
}

// Child process entry: node unet-cpu.mjs --case <precision> <quick 0|1>
if (process.argv[1] === here && process.argv[2] === '--case') {
  const r = await runCase(process.argv[3], process.argv[4] === '1');
  process.stdout.write(`${JSON.stringify(r)}\n`);
}

export async function run({ quick = false } = {}) {
  const wanted = (process.env.INDETAIL_BENCH_PRECISION ?? 'f32,bf16').split(',');
  const rows = [];
  const notes = [];
  for (const precision of wanted.filter((p) => p !== 'bf16' || cpuHasBf16())) {
    const p = spawnSync(process.execPath, [here, '--case', precision, quick ? '1' : '0'], { encoding: 'utf8', maxBuffer: 1 << 24 });
    if (p.status !== 0) throw new Error(`unet-cpu ${precision}: child failed (${p.status}): ${p.stderr}`);
    const r = JSON.parse(p.stdout.trim().split('\n').pop());
    rows.push(...r.rows);
    notes.push(`${precision}: load with random weights ${r.loadSeconds.toFixed(1)} s, ${r.weightsGiB.toFixed(2)} GiB of prepared weights, kernels ${r.kernels}`);
  }
  return {
    rows,
    notes: [
      ...notes,
      'each precision runs in its own process (peak RSS is its own); bf16 only where the CPU has AVX512-BF16 or AMX (INDETAIL_BENCH_PRECISION=f32,bf16 selects)',
      'seconds = wall time of the fastest iteration; CPU s = user + system time of the process during it (on a shared machine GFLOP/CPU-s is the steadier figure)',
      'FLOPs counted from the config: convolutions, linears, attention matmuls (2 per multiply-add)',
    ],
  };
}
