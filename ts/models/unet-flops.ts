// FLOPs (2 per multiply-add) of one UNet forward, walked from the normalised config exactly as
// the graph is built (engine/models/unet*.cc): convolutions, linears and attention matmuls; norms
// and element-wise ops are not counted. Benchmarks report GFLOP/s over it; the pipelines use it to
// refuse sizes whose cost is unreasonable for the backend.
import type { UNetConfig } from './unet-config.js';

export interface UNetFlopsShape {
  frames: number;
  /** Latent height and width. */
  height: number;
  width: number;
  /** Text tokens per frame (77 for CLIP). */
  contextLength: number;
}

export function unetFlops(cfg: UNetConfig, shape: UNetFlopsShape): number {
  const { frames, height, width, contextLength } = shape;
  let flops = 0;
  const conv = (h: number, w: number, cin: number, cout: number, k: number) => (flops += 2 * frames * h * w * cin * cout * k * k);
  const linear = (rows: number, k: number, n: number) => (flops += 2 * rows * k * n);
  const attention = (lq: number, lk: number, inner: number) => (flops += 4 * frames * lq * lk * inner);
  const temb = cfg.time_embed_dim;
  const resnet = (h: number, w: number, cin: number, cout: number) => {
    linear(frames, temb, cout);
    conv(h, w, cin, cout, 3);
    conv(h, w, cout, cout, 3);
    if (cin !== cout) linear(frames * h * w, cin, cout);
  };
  const transformer = (h: number, w: number, c: number, depth: number, ctxDim: number) => {
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
  linear(frames, boc[0]!, temb);
  linear(frames, temb, temb);
  if (cfg.addition_embed_type === 'text_time') {
    linear(frames, cfg.projection_class_embeddings_input_dim, temb); // add_embedding
    linear(frames, temb, temb);
  }
  const sizes: Array<[number, number]> = [[height, width]];
  for (let i = 1; i < n; i++) sizes.push([Math.ceil(sizes[i - 1]![0] / 2), Math.ceil(sizes[i - 1]![1] / 2)]);
  conv(height, width, cfg.in_channels, boc[0]!, cfg.conv_in_kernel);
  const skips = [boc[0]!];
  for (let i = 0; i < n; i++) {
    const [h, w] = sizes[i]!;
    for (let j = 0; j < cfg.layers_per_block[i]!; j++) {
      resnet(h, w, j === 0 ? (i === 0 ? boc[0]! : boc[i - 1]!) : boc[i]!, boc[i]!);
      if (cfg.down_block_types[i] === 'CrossAttnDownBlock2D') transformer(h, w, boc[i]!, cfg.transformer_layers_per_block[i]!, cfg.cross_attention_dim[i]!);
      skips.push(boc[i]!);
    }
    if (i + 1 < n) {
      const [h2, w2] = sizes[i + 1]!;
      conv(h2, w2, boc[i]!, boc[i]!, 3);
      skips.push(boc[i]!);
    }
  }
  const [hm, wm] = sizes[n - 1]!;
  resnet(hm, wm, boc[n - 1]!, boc[n - 1]!);
  transformer(hm, wm, boc[n - 1]!, cfg.transformer_layers_per_block[n - 1]!, cfg.cross_attention_dim[n - 1]!);
  resnet(hm, wm, boc[n - 1]!, boc[n - 1]!);
  let prev = boc[n - 1]!;
  for (let i = 0; i < n; i++) {
    const level = n - 1 - i;
    const [h, w] = sizes[level]!;
    const out = boc[level]!;
    for (let j = 0; j <= cfg.layers_per_block[level]!; j++) {
      resnet(h, w, (j === 0 ? prev : out) + skips.pop()!, out);
      if (cfg.up_block_types[i] === 'CrossAttnUpBlock2D') transformer(h, w, out, cfg.reverse_transformer_layers_per_block[i]!, cfg.cross_attention_dim[level]!);
    }
    if (i + 1 < n) {
      const [h2, w2] = sizes[level - 1]!;
      conv(h2, w2, out, out, 3);
    }
    prev = out;
  }
  conv(height, width, boc[0]!, cfg.out_channels, cfg.conv_out_kernel);
  return flops;
}
