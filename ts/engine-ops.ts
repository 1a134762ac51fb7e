// The arguments of every op of the native op interface (engine/backend.h documents the maths),
// by op name: `engine.op(name, args)` is type-checked against them, and the native side rejects a
// key an op does not declare (binding/ops_table.cc), naming the op and the key.
import type { Tensor } from './tensor.js';

export type OpActivation = 'none' | 'silu' | 'gelu' | 'gelu_tanh' | 'quick_gelu';
export type OpAttentionMode = 'none' | 'concat' | 'stratified' | 'replace';

interface Conv2dArguments {
  x: Tensor;
  w: Tensor;
  out: Tensor;
  bias?: Tensor;
  frameBias?: Tensor;
  residual?: Tensor;
  stride?: number;
  pad?: number;
  padEnd?: number;
  outScale?: number;
}

interface GroupNormParameters {
  groups?: number;
  eps?: number;
  silu?: boolean;
}

export interface OpArguments {
  fill: { y: Tensor; value: number };
  axpy: { x: Tensor; y: Tensor; a: number };
  /** out[r] = src[index[r]] along dimension 0. */
  gather_frames: { src: Tensor; out: Tensor; index: number[] };
  copy: { src: Tensor; dst: Tensor };
  linear: { x: Tensor; w: Tensor; out: Tensor; bias?: Tensor; residual?: Tensor; act?: OpActivation };
  linear_geglu: { x: Tensor; w: Tensor; out: Tensor; bias?: Tensor };
  geglu: { x: Tensor; out: Tensor };
  conv2d: Conv2dArguments;
  /** conv2d(group_norm(x)): the convolution's arguments plus the GroupNorm's (gamma, beta, groups, eps, silu). */
  group_norm_conv2d: Conv2dArguments & GroupNormParameters & { gamma: Tensor; beta: Tensor };
  group_norm: { x: Tensor; gamma: Tensor; beta: Tensor; out: Tensor } & GroupNormParameters;
  layer_norm: { x: Tensor; gamma: Tensor; beta: Tensor; out: Tensor; eps?: number };
  attention: {
    q: Tensor;
    k: Tensor;
    v: Tensor;
    out: Tensor;
    kRef?: Tensor;
    vRef?: Tensor;
    heads: number;
    scale?: number;
    causal?: boolean;
    mode?: OpAttentionMode;
    lambdaRef?: number;
    lambdaSelf?: number;
    ref?: number[];
    qCol?: number;
    kCol?: number;
    vCol?: number;
  };
  upsample_nearest: { x: Tensor; out: Tensor };
  timestep_embedding: { t: Tensor; out: Tensor; flipSinToCos?: boolean; freqShift?: number; maxPeriod?: number; scale?: number };
  activation: { x: Tensor; out: Tensor; act?: OpActivation };
  add: { a: Tensor; b: Tensor; out: Tensor; alpha?: number };
  scale_frames: { x: Tensor; out: Tensor; scale: number[] };
  concat_channels: { a: Tensor; b: Tensor; out: Tensor };
  embedding: { ids: Tensor; table: Tensor; out: Tensor };
  guidance_step: {
    eps: Tensor;
    x: Tensor;
    out: Tensor;
    reset?: Tensor;
    guidanceScale?: number;
    alphaFrom: number;
    alphaTo: number;
    vPrediction?: boolean;
    uncondRow: number[];
    condRow: number[];
    resetFrame?: number;
  };
}

export type OpName = keyof OpArguments;
