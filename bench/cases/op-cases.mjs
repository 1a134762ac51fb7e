// The op case table shared by the CUDA parity test (test/cuda/ops-parity.test.mjs) and the
// CUDA op benchmark (bench/suites/cuda-ops.mjs), in the spirit of llm.c / ggml
// test-backend-ops: every op of engine/backend.h except attention, at Stable Diffusion 1.5
// shapes (batch 2, 64×64 latents) and at odd shapes that miss every tile size and vector width.
//
// A case is { name, op, tags, flops, build(rng) -> spec }, where spec = { tensors, params, out }:
//   tensors: argument name -> { kind, shape, data } with kind
//     'act'    activation in the engine's compute dtype           (engine.tensor)
//     'linear' | 'conv' | 'table'  weight                          (engine.prepareWeight)
//     'vector' F32 bias / norm parameter                           (engine.prepareWeight 'vector')
//     'f32'    F32 tensor (timesteps)                             (engine.tensor(..., 'f32'))
//     'ids'    I32 token ids                                       (engine.tensor(Int32Array))
//   params: the op's scalar arguments (names as in binding/ops_table.cc)
//   out: { name ('out' or 'dst'), shape }
// Inputs come from a seeded generator (mulberry32 + Box–Muller), so every run and every engine
// sees the same values.
import { mulberry32 } from '../lib/random.mjs';

// ---------------------------------------------------------------------------------------------
// Seeded random numbers

export function makeRng(seed) {
  const uniform = mulberry32(seed);
  const normal = () => {
    const u = Math.max(uniform(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * uniform());
  };
  return { uniform, normal };
}

function seedOf(name) {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619);
  return h >>> 0;
}

const numel = (shape) => shape.reduce((a, b) => a * b, 1);

function normals(rng, n, std = 1, mean = 0) {
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) d[i] = mean + std * rng.normal();
  return d;
}

// Tensor descriptions ----------------------------------------------------------------------
const act = (rng, shape, { std = 1, mean = 0 } = {}) => ({ kind: 'act', shape, data: normals(rng, numel(shape), std, mean) });
// Weights scaled like a trained layer (std 1/sqrt(fan_in)) so outputs stay O(1).
const weight = (rng, kind, shape, fanIn) => ({ kind, shape, data: normals(rng, numel(shape), 1 / Math.sqrt(fanIn)) });
const vector = (rng, n, { std = 0.5, mean = 0 } = {}) => ({ kind: 'vector', shape: [n], data: normals(rng, n, std, mean) });

// ---------------------------------------------------------------------------------------------
// Cases

const cases = [];
const add = (c) => cases.push(c);
const tagsFor = (sd) => (sd ? ['sd'] : ['odd']);

// linear: x [..., K] · w[N, K]ᵀ (+ bias) -> act -> (+ residual)
function linearCase(name, { lead, K, N, bias = false, residual = false, act: a = 'none', sd = false }) {
  const M = numel(lead);
  add({
    name,
    op: 'linear',
    tags: tagsFor(sd),
    flops: 2 * M * N * K,
    build(rng) {
      const tensors = { x: act(rng, [...lead, K]), w: weight(rng, 'linear', [N, K], K) };
      if (bias) tensors.bias = vector(rng, N);
      if (residual) tensors.residual = act(rng, [...lead, N]);
      return { tensors, params: { act: a }, out: { name: 'out', shape: [...lead, N] } };
    },
  });
}

linearCase('linear attn q 2x4096x320->320', { lead: [2, 4096], K: 320, N: 320, sd: true });
linearCase('linear attn out 2x4096x320->320 +bias +res', { lead: [2, 4096], K: 320, N: 320, bias: true, residual: true, sd: true });
linearCase('linear ff out 2x4096x1280->320 +bias +res', { lead: [2, 4096], K: 1280, N: 320, bias: true, residual: true, sd: true });
linearCase('linear cross k 2x77x768->320', { lead: [2, 77], K: 768, N: 320, sd: true });
linearCase('linear attn q 2x64x1280->1280 (split-K)', { lead: [2, 64], K: 1280, N: 1280, bias: true, sd: true });
linearCase('linear time 2x320->1280 +bias silu', { lead: [2], K: 320, N: 1280, bias: true, act: 'silu', sd: true });
linearCase('linear odd K77 N45 +bias silu +res', { lead: [3, 37], K: 77, N: 45, bias: true, residual: true, act: 'silu' });
linearCase('linear odd K40 M130 N136 gelu', { lead: [130], K: 40, N: 136, bias: true, act: 'gelu' });
linearCase('linear odd K1000 M3 N200 gelu_tanh (split-K)', { lead: [3], K: 1000, N: 200, bias: true, act: 'gelu_tanh' });
linearCase('linear odd K24 M129 N129 quick_gelu', { lead: [1, 129], K: 24, N: 129, act: 'quick_gelu', residual: true });
linearCase('linear odd K3 M5 N7', { lead: [5], K: 3, N: 7, bias: true });

// linear_geglu: out = a * gelu(g), [a | g] = x · wᵀ + bias
function gegluLinearCase(name, { lead, K, F, bias = true, sd = false }) {
  const M = numel(lead);
  add({
    name,
    op: 'linear_geglu',
    tags: tagsFor(sd),
    flops: 2 * M * 2 * F * K,
    build(rng) {
      const tensors = { x: act(rng, [...lead, K]), w: weight(rng, 'linear', [2 * F, K], K) };
      if (bias) tensors.bias = vector(rng, 2 * F);
      return { tensors, params: {}, out: { name: 'out', shape: [...lead, F] } };
    },
  });
}

gegluLinearCase('linear_geglu ff 8192x320->2560 (F 1280)', { lead: [2, 4096], K: 320, F: 1280, sd: true });
gegluLinearCase('linear_geglu ff 128x1280->10240 (F 5120)', { lead: [2, 64], K: 1280, F: 5120, sd: true });
gegluLinearCase('linear_geglu odd K72 M150 F100', { lead: [3, 50], K: 72, F: 100 });
gegluLinearCase('linear_geglu odd K37 M9 F13 no bias', { lead: [9], K: 37, F: 13, bias: false });

// layer_norm_linear / layer_norm_linear_geglu: the projection of a LayerNorm's output (transformer
// attn2 query, feed-forward), x with a mean so the normalisation matters
function layerNormLinearCase(name, { lead, K, N, geglu = false, residual = false, sd = false }) {
  const M = numel(lead);
  const rows = geglu ? 2 * N : N;
  add({
    name,
    op: geglu ? 'layer_norm_linear_geglu' : 'layer_norm_linear',
    tags: tagsFor(sd),
    flops: 2 * M * rows * K,
    build(rng) {
      const tensors = {
        x: act(rng, [...lead, K], { mean: 1, std: 2 }),
        gamma: vector(rng, K, { mean: 1, std: 0.1 }),
        beta: vector(rng, K, { std: 0.1 }),
        w: weight(rng, 'linear', [rows, K], K),
        bias: vector(rng, rows),
      };
      if (residual) tensors.residual = act(rng, [...lead, N]);
      return { tensors, params: { eps: 1e-5 }, out: { name: 'out', shape: [...lead, N] } };
    },
  });
}
layerNormLinearCase('layer_norm+linear attn2 q 2x4096x320->320', { lead: [2, 4096], K: 320, N: 320, sd: true });
layerNormLinearCase('layer_norm+linear_geglu ff 8192x320->2560 (F 1280)', { lead: [2, 4096], K: 320, N: 1280, geglu: true, sd: true });
layerNormLinearCase('layer_norm+linear odd K72 M150 N40 +res', { lead: [3, 50], K: 72, N: 40, residual: true });
layerNormLinearCase('layer_norm+linear_geglu odd K40 M9 F24', { lead: [9], K: 40, N: 24, geglu: true });

// conv2d: x [N, H, W, Cin] * w [Cout, KH, KW, Cin]
function convCase(name, { n, h, w, cin, cout, k = 3, stride = 1, pad = k === 3 ? 1 : 0, padEnd = pad, bias = true, frameBias = false, residual = false, outScale = 1, sd = false }) {
  const ho = Math.floor((h + pad + padEnd - k) / stride) + 1;
  const wo = Math.floor((w + pad + padEnd - k) / stride) + 1;
  add({
    name,
    op: 'conv2d',
    tags: tagsFor(sd),
    flops: 2 * n * ho * wo * cout * k * k * cin,
    build(rng) {
      const tensors = { x: act(rng, [n, h, w, cin]), w: weight(rng, 'conv', [cout, k, k, cin], k * k * cin) };
      if (bias) tensors.bias = vector(rng, cout);
      if (frameBias) tensors.frameBias = act(rng, [n, cout], { std: 0.5 });
      if (residual) tensors.residual = act(rng, [n, ho, wo, cout]);
      return { tensors, params: { stride, pad, padEnd, outScale }, out: { name: 'out', shape: [n, ho, wo, cout] } };
    },
  });
}

convCase('conv2d 3x3 320->320 64x64 b2 +bias +tbias', { n: 2, h: 64, w: 64, cin: 320, cout: 320, frameBias: true, sd: true });
convCase('conv2d 3x3 1280->1280 8x8 b2 +bias +res (split-K)', { n: 2, h: 8, w: 8, cin: 1280, cout: 1280, residual: true, sd: true });
convCase('conv2d 3x3 1280->1280 16x16 b2 +bias', { n: 2, h: 16, w: 16, cin: 1280, cout: 1280, sd: true });
convCase('conv2d 3x3 640->640 32x32 b2 +bias +res /scale', { n: 2, h: 32, w: 32, cin: 640, cout: 640, residual: true, outScale: 0.5, sd: true });
convCase('conv2d 3x3 s2 320->320 64x64->32x32 b2', { n: 2, h: 64, w: 64, cin: 320, cout: 320, stride: 2, sd: true });
convCase('conv2d 1x1 640->320 32x32 b2 (shortcut)', { n: 2, h: 32, w: 32, cin: 640, cout: 320, k: 1, sd: true });
convCase('conv2d 3x3 4->320 64x64 b2 (conv_in)', { n: 2, h: 64, w: 64, cin: 4, cout: 320, sd: true });
convCase('conv2d 3x3 320->4 64x64 b2 (conv_out)', { n: 2, h: 64, w: 64, cin: 320, cout: 4, sd: true });
convCase('conv2d odd 3x3 s2 p1 13x11 24->40', { n: 3, h: 13, w: 11, cin: 24, cout: 40, stride: 2 });
convCase('conv2d odd 3x3 s1 p0 9x7 36->20 (Cin%8!=0)', { n: 1, h: 9, w: 7, cin: 36, cout: 20, pad: 0 });
convCase('conv2d odd 3x3 s2 p1 15x17 16->24 +tbias +res x0.7', { n: 2, h: 15, w: 17, cin: 16, cout: 24, stride: 2, frameBias: true, residual: true, outScale: 0.7 });
convCase('conv2d odd 1x1 s2 9x9 16->8 no bias', { n: 2, h: 9, w: 9, cin: 16, cout: 8, k: 1, stride: 2, bias: false });
convCase('conv2d odd 3x3 s1 p2 5x6 3->130', { n: 2, h: 5, w: 6, cin: 3, cout: 130, pad: 2 });
convCase('conv2d odd 3x3 s1 p1 6x6 264->136 (split-K)', { n: 1, h: 6, w: 6, cin: 264, cout: 136, residual: true });
convCase('conv2d 3x3 s2 pad (0,1) 128->128 64x64 (VAE downsampler)', { n: 1, h: 64, w: 64, cin: 128, cout: 128, stride: 2, pad: 0, padEnd: 1 });

// group_norm_conv2d: conv2d(group_norm(x) (+ SiLU)), the ResNet norm -> conv pair (3x3, stride 1, pad 1)
function groupNormConvCase(name, { n, h, w, cin, cout, groups = 32, eps = 1e-5, silu = true, frameBias = false, residual = false, outScale = 1, sd = false }) {
  add({
    name,
    op: 'group_norm_conv2d',
    tags: tagsFor(sd),
    flops: 2 * n * h * w * cout * 9 * cin,
    build(rng) {
      const tensors = {
        x: act(rng, [n, h, w, cin], { mean: 0.5, std: 2 }),
        gamma: vector(rng, cin, { mean: 1, std: 0.1 }),
        beta: vector(rng, cin, { std: 0.1 }),
        w: weight(rng, 'conv', [cout, 3, 3, cin], 9 * cin),
        bias: vector(rng, cout),
      };
      if (frameBias) tensors.frameBias = act(rng, [n, cout], { std: 0.5 });
      if (residual) tensors.residual = act(rng, [n, h, w, cout]);
      return {
        tensors,
        params: { groups, eps, silu, stride: 1, pad: 1, padEnd: 1, outScale },
        out: { name: 'out', shape: [n, h, w, cout] },
      };
    },
  });
}
groupNormConvCase('group_norm+silu+conv2d 3x3 320->320 64x64 b2 +bias +tbias', { n: 2, h: 64, w: 64, cin: 320, cout: 320, frameBias: true, sd: true });
groupNormConvCase('group_norm+silu+conv2d 3x3 640->640 32x32 b2 +res /scale', { n: 2, h: 32, w: 32, cin: 640, cout: 640, residual: true, outScale: 0.5, sd: true });
groupNormConvCase('group_norm+silu+conv2d 3x3 128->128 128x128 b1 +res (VAE decoder)', { n: 1, h: 128, w: 128, cin: 128, cout: 128, residual: true, eps: 1e-6, sd: true });
groupNormConvCase('group_norm+silu+conv2d odd 3x3 8x8 64->40 g8 b3', { n: 3, h: 8, w: 8, cin: 64, cout: 40, groups: 8 });
groupNormConvCase('group_norm+silu+conv2d odd 3x3 9x7 48->20 g8', { n: 2, h: 9, w: 7, cin: 48, cout: 20, groups: 8 });
groupNormConvCase('group_norm+conv2d odd 3x3 6x10 32->24 g4 (width 10: composed)', { n: 2, h: 6, w: 10, cin: 32, cout: 24, groups: 4, silu: false });

function geluGateCase(name, { lead, F, sd = false }) {
  add({
    name,
    op: 'geglu',
    tags: tagsFor(sd),
    flops: 0,
    build(rng) {
      return { tensors: { x: act(rng, [...lead, 2 * F]) }, params: {}, out: { name: 'out', shape: [...lead, F] } };
    },
  });
}
geluGateCase('geglu 2x4096x2560->1280', { lead: [2, 4096], F: 1280, sd: true });
geluGateCase('geglu odd 3x7x26->13', { lead: [3, 7], F: 13 });

function groupNormCase(name, { n, h, w, c, groups = 32, silu = false, mean = 0, std = 1, eps = 1e-5, sd = false }) {
  add({
    name,
    op: 'group_norm',
    tags: tagsFor(sd),
    flops: 0,
    build(rng) {
      return {
        tensors: {
          x: act(rng, [n, h, w, c], { mean, std }),
          gamma: vector(rng, c, { mean: 1, std: 0.1 }),
          beta: vector(rng, c, { std: 0.1 }),
        },
        params: { groups, eps, silu },
        out: { name: 'out', shape: [n, h, w, c] },
      };
    },
  });
}
groupNormCase('group_norm+silu 320ch 64x64 b2', { n: 2, h: 64, w: 64, c: 320, silu: true, sd: true });
groupNormCase('group_norm 1280ch 8x8 b2', { n: 2, h: 8, w: 8, c: 1280, sd: true });
groupNormCase('group_norm+silu 2560ch 16x16 b2', { n: 2, h: 16, w: 16, c: 2560, silu: true, sd: true });
groupNormCase('group_norm 960ch 32x32 b2 eps1e-6', { n: 2, h: 32, w: 32, c: 960, eps: 1e-6, sd: true });
groupNormCase('group_norm odd 5x7x12 g4 b3', { n: 3, h: 5, w: 7, c: 12, groups: 4 });
groupNormCase('group_norm+silu odd 3x3x40 g8', { n: 2, h: 3, w: 3, c: 40, groups: 8, silu: true });
groupNormCase('group_norm odd mean 50 std 0.5 9x9x16 g2', { n: 1, h: 9, w: 9, c: 16, groups: 2, mean: 50, std: 0.5 });
groupNormCase('group_norm odd 1x1x64 g32 (2 values per group)', { n: 2, h: 1, w: 1, c: 64 });

function layerNormCase(name, { lead, c, mean = 0, std = 1, eps = 1e-5, sd = false }) {
  add({
    name,
    op: 'layer_norm',
    tags: tagsFor(sd),
    flops: 0,
    build(rng) {
      return {
        tensors: {
          x: act(rng, [...lead, c], { mean, std }),
          gamma: vector(rng, c, { mean: 1, std: 0.1 }),
          beta: vector(rng, c, { std: 0.1 }),
        },
        params: { eps },
        out: { name: 'out', shape: [...lead, c] },
      };
    },
  });
}
layerNormCase('layer_norm 2x4096x320', { lead: [2, 4096], c: 320, sd: true });
layerNormCase('layer_norm 2x64x1280', { lead: [2, 64], c: 1280, sd: true });
layerNormCase('layer_norm 2x77x768', { lead: [2, 77], c: 768, sd: true });
layerNormCase('layer_norm odd 3x5x100', { lead: [3, 5], c: 100 });
layerNormCase('layer_norm odd 7x3000 (wide)', { lead: [7], c: 3000 });
layerNormCase('layer_norm odd mean 30 13x24', { lead: [13], c: 24, mean: 30, std: 0.3 });

function timestepCase(name, { t, dim, flip = true, shift = 0, maxPeriod = 10000, scale = 1, sd = false }) {
  add({
    name,
    op: 'timestep_embedding',
    tags: tagsFor(sd),
    flops: 0,
    build() {
      return {
        tensors: { t: { kind: 'f32', shape: [t.length], data: Float32Array.from(t) } },
        params: { flipSinToCos: flip, freqShift: shift, maxPeriod, scale },
        out: { name: 'out', shape: [t.length, dim] },
      };
    },
  });
}
timestepCase('timestep_embedding t[981,1] dim 320 flip', { t: [981, 1], dim: 320, sd: true });
timestepCase('timestep_embedding odd dim 33 shift 1 scale 2', { t: [0, 17, 999.5], dim: 33, flip: false, shift: 1, scale: 2, maxPeriod: 1000 });

function upsampleCase(name, { n, h, w, c, ho, wo, sd = false }) {
  add({
    name,
    op: 'upsample_nearest',
    tags: tagsFor(sd),
    flops: 0,
    build(rng) {
      return { tensors: { x: act(rng, [n, h, w, c]) }, params: {}, out: { name: 'out', shape: [n, ho, wo, c] } };
    },
  });
}
upsampleCase('upsample_nearest 8x8->16x16 1280ch b2', { n: 2, h: 8, w: 8, c: 1280, ho: 16, wo: 16, sd: true });
upsampleCase('upsample_nearest 32x32->64x64 640ch b2', { n: 2, h: 32, w: 32, c: 640, ho: 64, wo: 64, sd: true });
upsampleCase('upsample_nearest odd 5x7->11x9 3ch', { n: 2, h: 5, w: 7, c: 3, ho: 11, wo: 9 });
upsampleCase('upsample_nearest odd 6x6->4x5 16ch', { n: 1, h: 6, w: 6, c: 16, ho: 4, wo: 5 });

function activationCase(name, { shape, a, sd = false }) {
  add({
    name,
    op: 'activation',
    tags: tagsFor(sd),
    flops: 0,
    build(rng) {
      return { tensors: { x: act(rng, shape, { std: 3 }) }, params: { act: a }, out: { name: 'out', shape } };
    },
  });
}
activationCase('activation silu 2x64x64x320', { shape: [2, 64, 64, 320], a: 'silu', sd: true });
activationCase('activation silu 2x1280', { shape: [2, 1280], a: 'silu', sd: true });
activationCase('activation odd gelu 1001', { shape: [1001], a: 'gelu' });
activationCase('activation odd gelu_tanh 3x333', { shape: [3, 333], a: 'gelu_tanh' });
activationCase('activation odd quick_gelu 77x3', { shape: [77, 3], a: 'quick_gelu' });
activationCase('activation odd none 9', { shape: [9], a: 'none' });

function addCase(name, { shape, alpha = 1, sd = false }) {
  add({
    name,
    op: 'add',
    tags: tagsFor(sd),
    flops: 0,
    build(rng) {
      return { tensors: { a: act(rng, shape), b: act(rng, shape) }, params: { alpha }, out: { name: 'out', shape } };
    },
  });
}
addCase('add 2x64x64x320', { shape: [2, 64, 64, 320], sd: true });
addCase('add odd 1003 alpha -0.5', { shape: [1003], alpha: -0.5 });

function scaleFramesCase(name, { shape, scale, sd = false }) {
  add({
    name,
    op: 'scale_frames',
    tags: tagsFor(sd),
    flops: 0,
    build(rng) {
      return { tensors: { x: act(rng, shape) }, params: { scale }, out: { name: 'out', shape } };
    },
  });
}
scaleFramesCase('scale_frames 6x32x32x640', { shape: [6, 32, 32, 640], scale: [0, 0, 1, 1, 0, 1], sd: true });
scaleFramesCase('scale_frames odd 35x5x7x3 (>32 frames)', { shape: [35, 5, 7, 3], scale: Array.from({ length: 35 }, (_, i) => (i % 3) - 0.5) });

function concatCase(name, { lead, ca, cb, sd = false }) {
  add({
    name,
    op: 'concat_channels',
    tags: tagsFor(sd),
    flops: 0,
    build(rng) {
      return {
        tensors: { a: act(rng, [...lead, ca]), b: act(rng, [...lead, cb]) },
        params: {},
        out: { name: 'out', shape: [...lead, ca + cb] },
      };
    },
  });
}
concatCase('concat_channels 2x32x32 1280+640', { lead: [2, 32, 32], ca: 1280, cb: 640, sd: true });
concatCase('concat_channels odd 2x3x5 6+10', { lead: [2, 3, 5], ca: 6, cb: 10 });

function embeddingCase(name, { n, l, vocab, c, sd = false }) {
  add({
    name,
    op: 'embedding',
    tags: tagsFor(sd),
    flops: 0,
    build(rng) {
      const ids = new Int32Array(n * l);
      for (let i = 0; i < ids.length; i++) ids[i] = Math.floor(rng.uniform() * vocab);
      ids[0] = 0;
      ids[ids.length - 1] = vocab - 1;
      return {
        tensors: { ids: { kind: 'ids', shape: [n, l], data: ids }, table: weight(rng, 'table', [vocab, c], 1) },
        params: {},
        out: { name: 'out', shape: [n, l, c] },
      };
    },
  });
}
embeddingCase('embedding 2x77 tokens, 4096x768 table', { n: 2, l: 77, vocab: 4096, c: 768, sd: true });
embeddingCase('embedding odd 3x5 tokens, 50x12 table', { n: 3, l: 5, vocab: 50, c: 12 });

function guidanceCase(name, { rows, frames, hwc, uncondRow, condRow, resetFrame = -1, scale = 7.5, alphaFrom, alphaTo, vPrediction = false, sd = false }) {
  add({
    name,
    op: 'guidance_step',
    tags: tagsFor(sd),
    flops: 0,
    build(rng) {
      const tensors = { eps: act(rng, [rows, ...hwc]), x: act(rng, [frames, ...hwc]) };
      if (resetFrame >= 0) tensors.reset = act(rng, [1, ...hwc]);
      return {
        tensors,
        params: { guidanceScale: scale, alphaFrom, alphaTo, vPrediction, uncondRow, condRow, resetFrame },
        out: { name: 'out', shape: [frames, ...hwc] },
      };
    },
  });
}
// Conflict-free guidance batch [G1_neg, G2_neg, P_pos, G1_pos, G2_pos] -> frames [P, G1, G2].
guidanceCase('guidance_step cfg 7.5 + reset, 3 frames 64x64x4', {
  rows: 5, frames: 3, hwc: [64, 64, 4], uncondRow: [-1, 0, 1], condRow: [2, 3, 4], resetFrame: 0,
  alphaFrom: 0.0465, alphaTo: 0.0718, sd: true,
});
guidanceCase('guidance_step inversion (no cfg) 1 frame 64x64x4', {
  rows: 1, frames: 1, hwc: [64, 64, 4], uncondRow: [-1], condRow: [0], scale: 1, alphaFrom: 0.9, alphaTo: 0.8, sd: true,
});
guidanceCase('guidance_step odd v-pred 5x7x3 uncond only + cond only', {
  rows: 3, frames: 3, hwc: [5, 7, 3], uncondRow: [0, 1, -1], condRow: [1, -1, 2], scale: 5, alphaFrom: 0.5, alphaTo: 0.7, vPrediction: true,
});

add({
  name: 'copy odd 2x3x7',
  op: 'copy',
  tags: ['odd'],
  flops: 0,
  build(rng) {
    return { tensors: { src: act(rng, [2, 3, 7]) }, params: {}, out: { name: 'dst', shape: [2, 3, 7] } };
  },
});

export { cases };

// ---------------------------------------------------------------------------------------------
// Using a case

// Builds the case's inputs (deterministic for a given case name).
export function buildCase(c) {
  return c.build(makeRng(seedOf(c.name)));
}

// Bytes every call must move at least once, in the engine's storage types (for GB/s).
export function caseBytes(spec, storageBytes = 2) {
  let b = 0;
  for (const t of Object.values(spec.tensors)) {
    const n = numel(t.shape);
    b += n * (t.kind === 'vector' || t.kind === 'f32' || t.kind === 'ids' ? 4 : storageBytes);
  }
  return b + numel(spec.out.shape) * storageBytes;
}

export function describeShapes(spec) {
  return Object.entries(spec.tensors)
    .map(([k, t]) => `${k}[${t.shape.join(',')}]`)
    .join(' ');
}

// Creates the case's tensors on `engine`; `host` is a CPU engine used to stage weights for
// prepareWeight. `round` (optional) maps the data of activations and weights first (the fp16 /
// bf16 re-implementation of the reference); F32 parameters, timesteps and ids are never rounded.
export function instantiate(engine, host, spec, round = null) {
  const args = { ...spec.params };
  const owned = [];
  const r = (t) => (round ? round(t.data) : t.data);
  for (const [key, t] of Object.entries(spec.tensors)) {
    let tensor;
    if (t.kind === 'act') {
      tensor = engine.tensor(r(t), t.shape);
    } else if (t.kind === 'linear' || t.kind === 'conv' || t.kind === 'table') {
      const h = host.tensor(r(t), t.shape, 'f32');
      tensor = engine.prepareWeight(h, t.kind);
      h.dispose();
    } else if (t.kind === 'vector') {
      const h = host.tensor(t.data, t.shape, 'f32');
      tensor = engine.prepareWeight(h, 'vector');
      h.dispose();
    } else if (t.kind === 'f32') {
      tensor = engine.tensor(t.data, t.shape, 'f32');
    } else if (t.kind === 'ids') {
      tensor = engine.tensor(t.data, t.shape);
    } else {
      throw new Error(`case tensor ${key}: unknown kind ${t.kind}`);
    }
    args[key] = tensor;
    owned.push(tensor);
  }
  const out = engine.empty(spec.out.shape);
  args[spec.out.name] = out;
  owned.push(out);
  return {
    args,
    out,
    dispose() {
      for (const t of owned) t.dispose();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Rounding to the 16-bit storage types (round to nearest even, like the engine's conversions)

export function roundArray(data, precision) {
  const out = new Float32Array(data);
  const u = new Uint32Array(out.buffer);
  for (let i = 0; i < u.length; i++) {
    const x = u[i];
    const sign = x & 0x80000000;
    let abs = x & 0x7fffffff;
    if (abs >= 0x7f800000) continue; // inf / nan
    if (precision === 'bf16') {
      abs = (abs + 0x7fff + ((abs >>> 16) & 1)) & 0xffff0000;
    } else if (abs >= 0x477ff000) {
      abs = 0x7f800000; // rounds past 65504
    } else if (abs >= 0x38800000) {
      abs = (abs + 0xfff + ((abs >>> 13) & 1)) & 0xffffe000;
    } else {
      out[i] = roundSubnormalF16(out[i]);
      continue;
    }
    u[i] = (sign | abs) >>> 0;
  }
  return out;
}

function roundSubnormalF16(v) {
  const q = Math.abs(v) / 2 ** -24; // exact: a power-of-two scaling of an f32 value
  let r = Math.floor(q);
  const frac = q - r;
  if (frac > 0.5 || (frac === 0.5 && r % 2 === 1)) r += 1;
  return Math.sign(v) * r * 2 ** -24;
}

// One unit in the last place of |v| in the storage type (the floor of every tolerance).
export function ulpOf(v, precision) {
  const a = Math.abs(v);
  if (!(a > 0) || !Number.isFinite(a)) return 0;
  const e = Math.floor(Math.log2(a));
  return precision === 'bf16' ? 2 ** (Math.max(e, -126) - 7) : 2 ** (Math.max(e, -14) - 10);
}
