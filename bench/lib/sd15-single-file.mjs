// A full-size SD1.5 single-file checkpoint (original LDM key names, like the files users download)
// with seeded random F16 weights, for memory and load benchmarks without a real checkpoint.
//
// The UNet and VAE keys are those of the tiny fixture single file (the tiny models have SD1.5's
// exact block structure), mapped to diffusers names by indetail's own single-file reader; each
// tensor gets the shape the shipped SD1.5 configs give that diffusers name (written out below from
// the diffusers architecture, independently of the engine), in the rank of the tiny file's tensor
// (the VAE's attention projections are 1x1 convolutions there). The text encoder's keys are its
// Hugging Face names after the file's prefix, for all 12 layers. Written once and reused (2.1 GB).
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openSafetensors } from '../../dist/index.js';
import { UNET_PREFIX, VAE_PREFIX, inspectSingleFile } from '../../dist/models/ldm/single-file.js';
import { unetNameFromLdm } from '../../dist/models/ldm/unet-names.js';
import { vaeNameFromLdm } from '../../dist/models/ldm/vae-names.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const config = (c) => JSON.parse(readFileSync(path.join(root, 'configs', 'sd15', c, 'config.json'), 'utf8'));

// diffusers name -> shape, for the UNet, the VAE and the CLIP text encoder of the SD1.5 configs.
function shapes() {
  const t = {};
  const conv = (n, o, i, k) => Object.assign(t, { [`${n}.weight`]: [o, i, k, k], [`${n}.bias`]: [o] });
  const lin = (n, o, i, bias = true) => Object.assign(t, { [`${n}.weight`]: [o, i] }, bias ? { [`${n}.bias`]: [o] } : {});
  const norm = (n, c) => Object.assign(t, { [`${n}.weight`]: [c], [`${n}.bias`]: [c] });

  const u = config('unet');
  const boc = u.block_out_channels;
  const temb = 4 * boc[0];
  const ctx = u.cross_attention_dim;
  const res = (n, i, o) => {
    norm(`${n}.norm1`, i);
    conv(`${n}.conv1`, o, i, 3);
    lin(`${n}.time_emb_proj`, o, temb);
    norm(`${n}.norm2`, o);
    conv(`${n}.conv2`, o, o, 3);
    if (i !== o) conv(`${n}.conv_shortcut`, o, i, 1);
  };
  const transformer = (n, c) => {
    norm(`${n}.norm`, c);
    conv(`${n}.proj_in`, c, c, 1);
    const b = `${n}.transformer_blocks.0`;
    for (const k of [1, 2, 3]) norm(`${b}.norm${k}`, c);
    for (const [a, kv] of [['attn1', c], ['attn2', ctx]]) {
      lin(`${b}.${a}.to_q`, c, c, false);
      lin(`${b}.${a}.to_k`, c, kv, false);
      lin(`${b}.${a}.to_v`, c, kv, false);
      lin(`${b}.${a}.to_out.0`, c, c);
    }
    lin(`${b}.ff.net.0.proj`, 8 * c, c);
    lin(`${b}.ff.net.2`, c, 4 * c);
    conv(`${n}.proj_out`, c, c, 1);
  };
  const n = boc.length;
  conv('conv_in', boc[0], u.in_channels, 3);
  lin('time_embedding.linear_1', temb, boc[0]);
  lin('time_embedding.linear_2', temb, temb);
  let out = boc[0];
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < u.layers_per_block; j++) {
      res(`down_blocks.${i}.resnets.${j}`, j === 0 ? out : boc[i], boc[i]);
      if (u.down_block_types[i].startsWith('CrossAttn')) transformer(`down_blocks.${i}.attentions.${j}`, boc[i]);
    }
    out = boc[i];
    if (i < n - 1) conv(`down_blocks.${i}.downsamplers.0.conv`, out, out, 3);
  }
  res('mid_block.resnets.0', out, out);
  transformer('mid_block.attentions.0', out);
  res('mid_block.resnets.1', out, out);
  const rev = [...boc].reverse();
  let prev = rev[0];
  for (let i = 0; i < n; i++) {
    const o = rev[i];
    const inCh = rev[Math.min(i + 1, n - 1)];
    for (let j = 0; j <= u.layers_per_block; j++) {
      const skip = j === u.layers_per_block ? inCh : o;
      res(`up_blocks.${i}.resnets.${j}`, (j === 0 ? prev : o) + skip, o);
      if (u.up_block_types[i].startsWith('CrossAttn')) transformer(`up_blocks.${i}.attentions.${j}`, o);
    }
    if (i < n - 1) conv(`up_blocks.${i}.upsamplers.0.conv`, o, o, 3);
    prev = o;
  }
  norm('conv_norm_out', boc[0]);
  conv('conv_out', u.out_channels, boc[0], 3);

  const v = config('vae');
  const ch = v.block_out_channels;
  const L = v.latent_channels;
  const last = ch[ch.length - 1];
  const vres = (p, i, o) => {
    norm(`${p}.norm1`, i);
    conv(`${p}.conv1`, o, i, 3);
    norm(`${p}.norm2`, o);
    conv(`${p}.conv2`, o, o, 3);
    if (i !== o) conv(`${p}.conv_shortcut`, o, i, 1);
  };
  const vmid = (p) => {
    vres(`${p}.resnets.0`, last, last);
    norm(`${p}.attentions.0.group_norm`, last);
    for (const q of ['to_q', 'to_k', 'to_v', 'to_out.0']) lin(`${p}.attentions.0.${q}`, last, last);
    vres(`${p}.resnets.1`, last, last);
  };
  conv('encoder.conv_in', ch[0], v.in_channels, 3);
  out = ch[0];
  ch.forEach((c, i) => {
    for (let j = 0; j < v.layers_per_block; j++) vres(`encoder.down_blocks.${i}.resnets.${j}`, j === 0 ? out : c, c);
    if (i < ch.length - 1) conv(`encoder.down_blocks.${i}.downsamplers.0.conv`, c, c, 3);
    out = c;
  });
  vmid('encoder.mid_block');
  norm('encoder.conv_norm_out', last);
  conv('encoder.conv_out', 2 * L, last, 3);
  conv('quant_conv', 2 * L, 2 * L, 1);
  conv('post_quant_conv', L, L, 1);
  conv('decoder.conv_in', last, L, 3);
  vmid('decoder.mid_block');
  const vrev = [...ch].reverse();
  out = vrev[0];
  vrev.forEach((c, i) => {
    for (let j = 0; j <= v.layers_per_block; j++) vres(`decoder.up_blocks.${i}.resnets.${j}`, j === 0 ? out : c, c);
    if (i < vrev.length - 1) conv(`decoder.up_blocks.${i}.upsamplers.0.conv`, c, c, 3);
    out = c;
  });
  norm('decoder.conv_norm_out', ch[0]);
  conv('decoder.conv_out', v.out_channels, ch[0], 3);

  const c = config('text_encoder');
  const C = c.hidden_size;
  const tm = 'text_model';
  t[`${tm}.embeddings.token_embedding.weight`] = [c.vocab_size, C];
  t[`${tm}.embeddings.position_embedding.weight`] = [c.max_position_embeddings, C];
  for (let l = 0; l < c.num_hidden_layers; l++) {
    const p = `${tm}.encoder.layers.${l}`;
    for (const q of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) lin(`${p}.self_attn.${q}`, C, C);
    norm(`${p}.layer_norm1`, C);
    lin(`${p}.mlp.fc1`, c.intermediate_size, C);
    lin(`${p}.mlp.fc2`, C, c.intermediate_size);
    norm(`${p}.layer_norm2`, C);
  }
  norm(`${tm}.final_layer_norm`, C);
  return t;
}

// f32 -> f16 bits (round to nearest; the values here are normal or zero).
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
function f16Bits(x) {
  f32[0] = x;
  const b = u32[0];
  const sign = (b >>> 16) & 0x8000;
  const e = ((b >>> 23) & 0xff) - 127 + 15;
  if (e <= 0) return sign;
  const m = b & 0x7fffff;
  let h = sign | (e << 10) | (m >>> 13);
  if ((m & 0x1fff) > 0x1000 || ((m & 0x1fff) === 0x1000 && (h & 1))) h++;
  return h;
}

// Uniform values with the scale of a trained layer: 1/sqrt(fan_in) for matrices, ~1 for norm
// scales, small biases (as the engine's random weights).
function fill(name, shape, rng) {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = Buffer.alloc(2 * n);
  const isVector = shape.length === 1;
  const normScale = isVector && /norm/.test(name) && name.endsWith('.weight');
  const half = Math.sqrt(3) * (normScale ? 0.1 : isVector ? 0.02 : 1 / Math.sqrt(n / shape[0]));
  const centre = normScale ? 1 : 0;
  for (let i = 0; i < n; i++) out.writeUInt16LE(f16Bits(centre + half * (2 * rng() - 1)), 2 * i);
  return out;
}

/** Path of the F16 single-file SD1.5 checkpoint under `dir`, written first when missing. */
export async function sd15SingleFileF16(dir = path.join(root, 'bench', 'out')) {
  const file = path.join(dir, 'sd15-random-f16.safetensors');
  if (existsSync(file)) return file;
  mkdirSync(dir, { recursive: true });
  const tiny = await openSafetensors(path.join(root, 'test', 'fixtures', 'tiny-sd15.safetensors'));
  const info = inspectSingleFile(tiny);
  const full = shapes();
  const header = { __metadata__: { format: 'pt' } };
  const order = [];
  let offset = 0;
  const add = (name, key, dtype, shape) => {
    const bytes = (dtype === 'I64' ? 8 : 2) * shape.reduce((a, b) => a * b, 1);
    header[key] = { dtype, shape, data_offsets: [offset, offset + bytes] };
    order.push([name, key]);
    offset += bytes;
  };
  // Tensors the tiny model lacks (1x1 shortcuts where its channel counts happen to be equal) get
  // the key of their conv1 with the LDM shortcut name, checked by the reader's own name map.
  const components = [
    { map: info.unet.map, prefix: UNET_PREFIX, back: (k) => unetNameFromLdm(k, info.unet.layersPerBlock), conv1: 'in_layers.2', shortcut: 'skip_connection' },
    { map: info.vae.map, prefix: VAE_PREFIX, back: (k) => vaeNameFromLdm(k, info.vae.upBlocks), conv1: 'conv1', shortcut: 'nin_shortcut' },
  ];
  for (const c of components) {
    for (const name of Object.keys(full)) {
      if (c.map[name] || name.startsWith('text_model.') || !c.map[name.replace(/conv_shortcut\.\w+$/, 'conv1.weight')]) continue;
      const key = c.map[name.replace('conv_shortcut', 'conv1')].replace(c.conv1, c.shortcut);
      if (c.back(key.slice(c.prefix.length)) !== name) throw new Error(`no LDM key for ${name} (tried ${key})`);
      c.map[name] = key;
    }
    for (const [name, key] of Object.entries(c.map)) {
      const s = full[name];
      if (!s) throw new Error(`no SD1.5 shape for ${name} (${key})`);
      const rank = tiny.entry(key)?.shape.length ?? s.length;
      add(name, key, 'F16', rank === s.length + 2 ? [...s, 1, 1] : s);
    }
  }
  const unmapped = Object.keys(full).filter((n) => !n.startsWith('text_model.') && !components.some((c) => c.map[n]));
  if (unmapped.length) throw new Error(`no LDM keys for ${unmapped.join(', ')}`);
  // The text encoder keeps its Hugging Face names after the prefix (12 layers, the tiny file has 3).
  const prefix = info.textEncoders[0].map['text_model.embeddings.position_ids'].replace('text_model.embeddings.position_ids', '');
  tiny.close();
  for (const [name, s] of Object.entries(full)) if (name.startsWith('text_model.')) add(name, prefix + name, 'F16', s);
  add('text_model.embeddings.position_ids', `${prefix}text_model.embeddings.position_ids`, 'I64', [1, config('text_encoder').max_position_embeddings]);
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const tmp = `${file}.partial`;
  const fd = openSync(tmp, 'w');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeSync(fd, len);
  writeSync(fd, Buffer.from(json, 'utf8'));
  let state = 0x9e3779b9;
  const rng = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 4294967296;
  };
  for (const [name, key] of order) {
    const h = header[key];
    if (h.dtype === 'I64') {
      const ids = Buffer.alloc(8 * h.shape[1]);
      for (let i = 0; i < h.shape[1]; i++) ids.writeBigInt64LE(BigInt(i), 8 * i);
      writeSync(fd, ids);
    } else {
      writeSync(fd, fill(name, h.shape, rng));
    }
  }
  closeSync(fd);
  renameSync(tmp, file);
  return file;
}
