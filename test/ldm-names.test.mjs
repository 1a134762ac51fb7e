// Single-file checkpoints in the original LDM / sgm naming: the name maps must reproduce the
// diffusers folder bit for bit (the fixtures' single files hold the same tensors as their folders:
// SD1.5, SD2.1 with its OpenCLIP text encoder, SDXL with both text encoders and the added
// embedding), and checkpoints that are not a Stable Diffusion model are refused with a reason.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { openSafetensorsSync } from '../dist/index.js';
import { inspectControlNetFile, inspectSingleFile } from '../dist/models/ldm/single-file.js';
import { fitTextEncoder } from '../dist/models/ldm/text-encoder-fit.js';
import { fixturePath, repoRoot, sd21Root } from './helpers/fixtures.mjs';
import { readSafetensorsJs, writeRawSafetensors } from './helpers/safetensors-js.mjs';

const dir = mkdtempSync(path.join(tmpdir(), 'indetail-ldm-'));
after(() => rmSync(dir, { recursive: true, force: true }));

// Tensor nameA of file a holds the same stored values as nameB of file b, or as the rows
// [begin, begin + count) of b that a view { key, rows } names, or as b's 2-D tensor transposed
// for a view { key, transpose: true }.
function sameBytes(a, nameA, b, nameB) {
  const x = a.tensorRaw(nameA).readSync();
  let y;
  if (typeof nameB === 'string') {
    y = b.tensorRaw(nameB).readSync();
  } else if (nameB.transpose) {
    const t = b.tensorRaw(nameB.key);
    const [r, c] = t.shape;
    const all = t.readSync();
    y = new all.constructor(r * c);
    for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) y[j * r + i] = all[i * c + j];
  } else {
    const t = b.tensorRaw(nameB.key);
    const all = t.readSync();
    const per = all.length / t.shape[0];
    y = all.subarray(nameB.rows[0] * per, (nameB.rows[0] + nameB.rows[1]) * per);
  }
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

// Every tensor of each folder file (relative to `root`) comes bit-exactly from the single file through its map.
function assertMapsFolder(single, root, maps) {
  for (const [file, map] of Object.entries(maps)) {
    const folder = openSafetensorsSync(path.join(root, file));
    for (const name of folder.names()) {
      assert.ok(map[name], `${file}: no single-file key for ${name}`);
      assert.ok(sameBytes(folder, name, single, map[name]), `${file}: ${name} <- ${JSON.stringify(map[name])} differs`);
    }
    assert.equal(Object.keys(map).length, folder.names().length, `${file}: every mapped key is a folder tensor`);
  }
}

test('the single-file fixture maps onto every tensor of the diffusers folder, bit-exactly', () => {
  const single = openSafetensorsSync(fixturePath('tiny-sd15.safetensors'));
  const info = inspectSingleFile(single);
  assert.equal(info.family.id, 'sd1');
  assert.equal(info.unet.layersPerBlock, 2);
  assert.equal(info.unet.modelChannels, 32);
  assert.equal(info.unet.crossAttentionDim, 32);
  assert.equal(info.vae.upBlocks, 4);
  assert.equal(info.textEncoders[0].layers, 3);
  assertMapsFolder(single, fixturePath('tiny-sd15'), {
    'unet/diffusion_pytorch_model.safetensors': info.unet.map,
    'vae/diffusion_pytorch_model.safetensors': info.vae.map,
    'text_encoder/model.safetensors': info.textEncoders[0].map,
  });
});

test('the SD2.1 single file maps onto its diffusers folder: packed q/k/v split in rows, unused last layer and projection dropped', async () => {
  const single = openSafetensorsSync(path.join(sd21Root, 'tiny-sd21v.safetensors'));
  const info = inspectSingleFile(single);
  assert.equal(info.family.id, 'sd2');
  assert.match(info.familyReason, /cond_stage_model\.model\./);
  assert.equal(info.textEncoders[0].layers, 3, 'the file holds the checkpoint\'s 3 OpenCLIP layers');
  assert.deepEqual(info.textEncoders[0].projection, { key: 'cond_stage_model.model.text_projection', transpose: true });
  const q = info.textEncoders[0].map['text_model.encoder.layers.1.self_attn.k_proj.weight'];
  assert.deepEqual(q, { key: 'cond_stage_model.model.transformer.resblocks.1.attn.in_proj_weight', rows: [32, 32] }, 'k is the second third of in_proj');
  const textDir = path.join(sd21Root, 'tiny-sd21v', 'text_encoder');
  const config = JSON.parse(readFileSync(path.join(textDir, 'config.json'), 'utf8'));
  const fitted = fitTextEncoder(single.path, info.family, info.textEncoders[0], config, 'its config');
  assertMapsFolder(single, path.join(sd21Root, 'tiny-sd21v'), {
    'unet/diffusion_pytorch_model.safetensors': info.unet.map,
    'vae/diffusion_pytorch_model.safetensors': info.vae.map,
    'text_encoder/model.safetensors': fitted,
  });
  // The same file against configs that do not fit it.
  const refuse = (patch, re) =>
    assert.throws(() => fitTextEncoder(single.path, info.family, info.textEncoders[0], { ...config, ...patch }, 'its config'), (err) => {
      assert.equal(err.code, 'ERR_INDETAIL_UNSUPPORTED');
      assert.match(err.message, re);
      assert.ok(err.message.includes(single.path), 'the message names the file');
      return true;
    });
  refuse({ num_hidden_layers: 1 }, /3 layers but its config says num_hidden_layers 1 \(the file must hold 1 or 2/);
  refuse({ hidden_size: 64 }, /32 wide but its config says hidden_size 64/);
  refuse({ num_hidden_layers: 2, architectures: ['CLIPTextModelWithProjection'] }, /CLIPTextModelWithProjection of 2 layers, whose projection cannot follow a file of 3 layers/);
  const withProjection = fitTextEncoder(single.path, info.family, info.textEncoders[0], { ...config, num_hidden_layers: 3, architectures: ['CLIPTextModelWithProjection'] }, 'its config');
  assert.deepEqual(withProjection['text_projection.weight'], { key: 'cond_stage_model.model.text_projection', transpose: true });
  const noProjection = { ...info.textEncoders[0] };
  delete noProjection.projection;
  assert.throws(
    () => fitTextEncoder(single.path, info.family, noProjection, { ...config, num_hidden_layers: 3, architectures: ['CLIPTextModelWithProjection'] }, 'its config'),
    /describes a CLIPTextModelWithProjection, but the file's text encoder has no text projection/,
  );
});

// Writes a small checkpoint whose tensors are zeros of the given shapes.
function fakeCheckpoint(name, shapes) {
  const header = {};
  let off = 0;
  for (const [k, shape] of Object.entries(shapes)) {
    const bytes = 2 * shape.reduce((a, b) => a * b, 1);
    header[k] = { dtype: 'F16', shape, data_offsets: [off, off + bytes] };
    off += bytes;
  }
  const p = path.join(dir, name);
  writeRawSafetensors(p, header, Buffer.alloc(off));
  return openSafetensorsSync(p);
}

const sd1Shapes = (inCh, ctx) => ({
  'model.diffusion_model.input_blocks.0.0.weight': [8, inCh, 3, 3],
  'model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight': [8, ctx],
  'first_stage_model.quant_conv.weight': [8, 8, 1, 1],
  'cond_stage_model.transformer.text_model.embeddings.token_embedding.weight': [10, 8],
});

test('the SDXL single file maps onto its diffusers folder: both text encoders (packed q/k/v, transposed projection) and the added embedding (label_emb)', () => {
  const root = path.join(repoRoot, 'test', 'fixtures-sdxl');
  const single = openSafetensorsSync(path.join(root, 'tiny-sdxl.safetensors'));
  const info = inspectSingleFile(single);
  assert.equal(info.family.id, 'sdxl');
  assert.match(info.familyReason, /conditioner\.embedders\./);
  assert.deepEqual(info.textEncoders.map((t) => [t.hiddenSize, t.layers]), [[16, 3], [24, 3]]);
  assert.equal(info.unet.crossAttentionDim, 40, '16 + 24');
  assert.equal(info.unet.addedEmbeddingInputs, 64);
  assert.equal(info.unet.map['add_embedding.linear_1.weight'], 'model.diffusion_model.label_emb.0.0.weight');
  const fit = (i, folder) => {
    const config = JSON.parse(readFileSync(path.join(root, 'tiny-sdxl', folder, 'config.json'), 'utf8'));
    return fitTextEncoder(single.path, info.family, info.textEncoders[i], config, 'its config');
  };
  assertMapsFolder(single, path.join(root, 'tiny-sdxl'), {
    'unet/diffusion_pytorch_model.safetensors': info.unet.map,
    'vae/diffusion_pytorch_model.safetensors': info.vae.map,
    'text_encoder/model.safetensors': fit(0, 'text_encoder'),
    'text_encoder_2/model.safetensors': fit(1, 'text_encoder_2'),
  });
});

test('inpainting, inconsistent and partial checkpoints are refused with the reason', () => {
  const cases = [
    ['sdxl-no-text.safetensors', { 'conditioner.embedders.0.x': [1], ...sd1Shapes(4, 768) }, /the text encoder under 'conditioner\.embedders\.0\.transformer\.' has no token embedding/],
    ['mixed.safetensors', sd1Shapes(4, 1024), /cross-attends to 1024-wide text states but its Stable Diffusion 1\.x text encoders .* give 8/],
    ['no-text.safetensors', { 'model.diffusion_model.input_blocks.0.0.weight': [8, 4, 3, 3], 'first_stage_model.quant_conv.weight': [8, 8, 1, 1] }, /no text encoder found/],
    ['inpaint.safetensors', sd1Shapes(9, 768), /9 input channels \(an inpainting model\)/],
    ['unet-only.safetensors', { 'model.diffusion_model.input_blocks.0.0.weight': [8, 4, 3, 3] }, /no VAE found/],
    ['controlnet-as-model.safetensors', { 'control_model.input_hint_block.0.weight': [8, 3, 3, 3] }, /looks like a ControlNet/],
  ];
  for (const [file, shapes, re] of cases) {
    assert.throws(() => inspectSingleFile(fakeCheckpoint(file, shapes)), (err) => {
      assert.equal(err.code, 'ERR_INDETAIL_UNSUPPORTED', file);
      assert.match(err.message, re);
      assert.ok(err.message.includes(file), 'the message names the file');
      return true;
    });
  }
});

test('a single-file ControlNet in the original naming maps back onto the diffusers ControlNet', () => {
  // Build an original-naming ControlNet from the diffusers fixture by the inverse of the map,
  // then check inspectControlNetFile recovers every tensor.
  const folderPath = fixturePath('tiny-sd15-controlnet', 'diffusion_pytorch_model.safetensors');
  const js = readSafetensorsJs(folderPath);
  const names = Object.keys(js.tensors);
  const ldm = {};
  const per = 3;
  for (const n of names) {
    let m;
    let k;
    if ((m = /^controlnet_down_blocks\.(\d+)\.(.+)$/.exec(n))) k = `zero_convs.${m[1]}.0.${m[2]}`;
    else if ((m = /^controlnet_mid_block\.(.+)$/.exec(n))) k = `middle_block_out.0.${m[1]}`;
    else if ((m = /^controlnet_cond_embedding\.conv_in\.(.+)$/.exec(n))) k = `input_hint_block.0.${m[1]}`;
    else if ((m = /^controlnet_cond_embedding\.blocks\.(\d+)\.(.+)$/.exec(n))) k = `input_hint_block.${2 * (Number(m[1]) + 1)}.${m[2]}`;
    else if ((m = /^controlnet_cond_embedding\.conv_out\.(.+)$/.exec(n))) k = `input_hint_block.14.${m[1]}`;
    else if ((m = /^conv_in\.(.+)$/.exec(n))) k = `input_blocks.0.0.${m[1]}`;
    else if ((m = /^time_embedding\.linear_(\d)\.(.+)$/.exec(n))) k = `time_embed.${m[1] === '1' ? 0 : 2}.${m[2]}`;
    else if ((m = /^down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)$/.exec(n))) k = `input_blocks.${(Number(m[1]) + 1) * per}.0.op.${m[2]}`;
    else if ((m = /^down_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.+)$/.exec(n))) {
      const i = Number(m[1]) * per + Number(m[3]) + 1;
      const rest = m[2] === 'resnets'
        ? m[4].replace(/^norm1\./, 'in_layers.0.').replace(/^conv1\./, 'in_layers.2.').replace(/^norm2\./, 'out_layers.0.').replace(/^conv2\./, 'out_layers.3.').replace(/^time_emb_proj\./, 'emb_layers.1.').replace(/^conv_shortcut\./, 'skip_connection.')
        : m[4];
      k = `input_blocks.${i}.${m[2] === 'resnets' ? 0 : 1}.${rest}`;
    } else if ((m = /^mid_block\.(resnets|attentions)\.(\d+)\.(.+)$/.exec(n))) {
      const j = m[1] === 'attentions' ? 1 : Number(m[2]) === 0 ? 0 : 2;
      const rest = m[1] === 'resnets'
        ? m[3].replace(/^norm1\./, 'in_layers.0.').replace(/^conv1\./, 'in_layers.2.').replace(/^norm2\./, 'out_layers.0.').replace(/^conv2\./, 'out_layers.3.').replace(/^time_emb_proj\./, 'emb_layers.1.')
        : m[3];
      k = `middle_block.${j}.${rest}`;
    }
    assert.ok(k, `test inverse map misses ${n}`);
    ldm[n] = `control_model.${k}`;
  }
  const header = {};
  const chunks = [];
  let off = 0;
  for (const n of names) {
    const info = js.tensors[n];
    const [b, e] = info.data_offsets;
    header[ldm[n]] = { dtype: info.dtype, shape: info.shape, data_offsets: [off, off + (e - b)] };
    off += e - b;
    chunks.push([b, e]);
  }
  const raw = readRaw(folderPath);
  const data = Buffer.concat(chunks.map(([b, e]) => raw.subarray(b, e)));
  const p = path.join(dir, 'control_sd15_tiny.safetensors');
  writeRawSafetensors(p, header, data);
  const single = openSafetensorsSync(p);
  const folder = openSafetensorsSync(folderPath);
  const { map } = inspectControlNetFile(single, 2);
  for (const n of names) {
    assert.equal(map[n], ldm[n], `map of ${n}`);
    assert.ok(sameBytes(folder, n, single, map[n]));
  }
  assert.throws(() => inspectControlNetFile(openSafetensorsSync(fixturePath('tiny-sd15.safetensors')), 2), /not a ControlNet checkpoint/);
});

function readRaw(file) {
  const buf = readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  return buf.subarray(8 + n);
}
