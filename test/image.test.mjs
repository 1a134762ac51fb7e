// Image I/O: decoding checks on a corpus of bad inputs, EXIF orientation, alpha flattening, the
// reference preprocessing on non-square targets, float conversions (against the fixtures), and
// atomic PNG writing with text metadata.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import zlib from 'node:zlib';
import sharp from 'sharp';
import { floatToU8, loadImage, openSafetensors, readImage, readPngText, u8ToFloatSigned, u8ToFloatUnit, writePng } from '../dist/index.js';
import { roundHalfEven, writeFileAtomic } from '../dist/image/index.js';
import { fixturePath } from './helpers/fixtures.mjs';
import { nchwToNhwc } from './helpers/layout.mjs';

const tmp = mkdtempSync(path.join(tmpdir(), 'indetail-image-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const file = (name) => path.join(tmp, name);

// A PNG written by hand: signature, IHDR (8-bit RGB), one IDAT, IEND; CRCs from node's zlib.
function chunk(type, data) {
  const b = Buffer.alloc(12 + data.length);
  b.writeUInt32BE(data.length, 0);
  b.write(type, 4, 'latin1');
  data.copy(b, 8);
  b.writeUInt32BE(zlib.crc32(b.subarray(4, 8 + data.length)), 8 + data.length);
  return b;
}
function handMadePng(width, height) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const sig = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([sig, chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(Buffer.alloc(1))), chunk('IEND', Buffer.alloc(0))]);
}

async function rejectsWith(promise, code, ...parts) {
  await assert.rejects(promise, (err) => {
    assert.equal(err.name, 'IndetailError');
    assert.equal(err.code, code, err.message);
    for (const p of parts) assert.ok(err.message.includes(p), `message "${err.message}" should mention ${p}`);
    return true;
  });
}

test('bad inputs are refused before decoding, with the file named', async () => {
  const source = readFileSync(fixturePath('golden', 'source_image.png'));
  const cases = {
    'empty.png': Buffer.alloc(0),
    'text.png': Buffer.from('this is not a picture\n'),
    'truncated.png': source.subarray(0, source.length >> 1),
    'zero-width.png': handMadePng(0, 16),
    'zero-height.png': handMadePng(16, 0),
    'huge.png': handMadePng(100000, 100000),
    'too-wide.png': handMadePng(16385, 8),
    'too-many-pixels.png': handMadePng(12000, 10000),
    'animation.gif': await sharp(Buffer.alloc(4 * 4 * 3, 90), { raw: { width: 4, height: 4, channels: 3 } }).gif().toBuffer(),
  };
  for (const [name, bytes] of Object.entries(cases)) writeFileSync(file(name), bytes);
  mkdirSync(file('a-directory.png'));

  await rejectsWith(readImage(file('missing.png')), 'ERR_INDETAIL_IO', file('missing.png'), 'does not exist');
  await rejectsWith(readImage(file('a-directory.png')), 'ERR_INDETAIL_IO', 'directory');
  await rejectsWith(readImage(file('empty.png')), 'ERR_INDETAIL_BAD_FILE', file('empty.png'), 'empty');
  await rejectsWith(readImage(file('text.png')), 'ERR_INDETAIL_BAD_FILE', file('text.png'), 'not a readable image');
  await rejectsWith(readImage(file('truncated.png')), 'ERR_INDETAIL_BAD_FILE', file('truncated.png'), 'corrupt or truncated');
  await rejectsWith(readImage(file('zero-width.png')), 'ERR_INDETAIL_BAD_FILE', file('zero-width.png'));
  await rejectsWith(readImage(file('zero-height.png')), 'ERR_INDETAIL_BAD_FILE', file('zero-height.png'));
  await rejectsWith(readImage(file('huge.png')), 'ERR_INDETAIL_INVALID_ARGUMENT', file('huge.png'), '100000x100000', '16384');
  await rejectsWith(readImage(file('too-wide.png')), 'ERR_INDETAIL_INVALID_ARGUMENT', '16385x8');
  await rejectsWith(readImage(file('too-many-pixels.png')), 'ERR_INDETAIL_INVALID_ARGUMENT', '12000x10000', '100000000');
  await rejectsWith(readImage(file('animation.gif')), 'ERR_INDETAIL_UNSUPPORTED', file('animation.gif'), 'GIF', 'PNG, JPEG, WebP and TIFF');
  await rejectsWith(readImage(handMadePng(64, 64), { maxSide: 32, name: 'upload' }), 'ERR_INDETAIL_INVALID_ARGUMENT', 'upload', '64x64');
  await rejectsWith(readImage(42), 'ERR_INDETAIL_INVALID_ARGUMENT', 'file path or a Buffer');
  await rejectsWith(readImage(''), 'ERR_INDETAIL_INVALID_ARGUMENT');
  await rejectsWith(loadImage(file('missing.png'), 128), 'ERR_INDETAIL_IO', file('missing.png'));
});

test('formats: PNG, JPEG, WebP, TIFF, grayscale and 16-bit all decode to 8-bit RGB', async () => {
  const w = 24;
  const h = 16;
  const rgb = Buffer.alloc(w * h * 3);
  for (let i = 0; i < w * h; i++) rgb.set([(i * 7) % 256, 128, 255 - ((i * 3) % 256)], i * 3);
  const raw = () => sharp(rgb, { raw: { width: w, height: h, channels: 3 } });
  const lossless = {
    png: await raw().png().toBuffer(),
    webp: await raw().webp({ lossless: true }).toBuffer(),
    tiff: await raw().tiff({ compression: 'lzw' }).toBuffer(),
  };
  for (const [fmt, bytes] of Object.entries(lossless)) {
    const img = await readImage(bytes);
    assert.deepEqual([img.width, img.height], [w, h], fmt);
    assert.ok(Buffer.from(img.data).equals(rgb), `${fmt} pixels`);
  }
  const jpeg = await readImage(await raw().jpeg({ quality: 95 }).toBuffer());
  assert.deepEqual([jpeg.width, jpeg.height, jpeg.data.length], [w, h, w * h * 3]);
  const gray = await readImage(await sharp(Buffer.from([0, 64, 128, 255]), { raw: { width: 2, height: 2, channels: 1 } }).png().toBuffer());
  assert.deepEqual([...gray.data], [0, 0, 0, 64, 64, 64, 128, 128, 128, 255, 255, 255]);
  const deep = await readImage(await raw().toColourspace('rgb16').png().toBuffer());
  assert.ok(Buffer.from(deep.data).equals(rgb), '16-bit PNG scaled back to the same 8-bit values');
});

test('EXIF orientation is applied (orientation 6 = rotate 90° clockwise)', async () => {
  // stored 4x2, red channel = 30 * (y * 4 + x)
  const raw = Buffer.alloc(4 * 2 * 3, 100);
  for (let i = 0; i < 8; i++) raw[i * 3] = i * 30;
  const png = await sharp(raw, { raw: { width: 4, height: 2, channels: 3 } }).withMetadata({ orientation: 6 }).png().toBuffer();
  assert.equal((await sharp(png).metadata()).orientation, 6);
  const img = await readImage(png);
  assert.deepEqual([img.width, img.height], [2, 4]);
  // displayed (x', y') = stored (y' , h - 1 - x')
  const red = [...img.data].filter((_, i) => i % 3 === 0);
  assert.deepEqual(red, [120, 0, 150, 30, 180, 60, 210, 90]);
});

test('alpha is flattened over white', async () => {
  const rgba = Buffer.from([255, 0, 0, 0, 0, 0, 255, 255, 0, 0, 0, 128, 10, 20, 30, 255]);
  const png = await sharp(rgba, { raw: { width: 2, height: 2, channels: 4 } }).png().toBuffer();
  const img = await readImage(png);
  assert.deepEqual([...img.data.subarray(0, 3)], [255, 255, 255], 'fully transparent red -> white');
  assert.deepEqual([...img.data.subarray(3, 6)], [0, 0, 255], 'opaque blue stays');
  for (const v of img.data.subarray(6, 9)) assert.ok(Math.abs(v - 127) <= 1, `half-transparent black -> mid grey, got ${v}`);
  assert.deepEqual([...img.data.subarray(9, 12)], [10, 20, 30]);
});

test('loadImage: non-square targets crop the centre to the target aspect ratio; sizes are validated', async () => {
  // 200x150 source: rows 15..134 form the 200x120 centre band of a 5:3 target
  const w = 200;
  const h = 150;
  const raw = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) raw.set([x, y, (x * y) % 256], (y * w + x) * 3);
  const png = await sharp(raw, { raw: { width: w, height: h, channels: 3 } }).png().toBuffer();
  const band = await loadImage(png, { width: 200, height: 120 });
  assert.deepEqual([band.width, band.height], [200, 120]);
  assert.ok(Buffer.from(band.data).equals(raw.subarray(15 * w * 3, 135 * w * 3)), 'centre band, unresized');
  // tall target on the wide source: the crop is the 75x150 column x = (200 - 75) // 2 = 62 .. 136;
  // mark it with green 255 (0 elsewhere): a constant region stays constant through the resize
  const marked = Buffer.from(raw);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) marked.set([x === 62 || x === 136 ? 255 : 0, x >= 62 && x < 137 ? 255 : 0], (y * w + x) * 3);
  const tall = await loadImage(await sharp(marked, { raw: { width: w, height: h, channels: 3 } }).png().toBuffer(), { width: 48, height: 96 });
  assert.deepEqual([tall.width, tall.height], [48, 96]);
  assert.ok(tall.data.every((v, i) => i % 3 !== 1 || v === 255), 'only the centre column band is used');
  for (let y = 0; y < 96; y++) {
    assert.ok(tall.data[y * 48 * 3] > 0 && tall.data[(y * 48 + 47) * 3] > 0, `row ${y}: both edge columns of the band are used`);
  }
  for (const size of [100, 0, -8, 8.5, 16384, { width: 64 }, { width: 64, height: 60 }]) {
    await rejectsWith(loadImage(png, size), 'ERR_INDETAIL_INVALID_ARGUMENT', 'multiple of 8');
  }
  for (const size of ['128', null]) await rejectsWith(loadImage(png, size), 'ERR_INDETAIL_INVALID_ARGUMENT', 'for size');
});

test('u8 -> [-1, 1] floats equal the VAE-encode fixture input exactly', async () => {
  const f = await openSafetensors(fixturePath('golden', 'images.safetensors'));
  const u8 = Uint8Array.from(f.tensor('input_image_u8').readSync());
  f.close();
  const v = await openSafetensors(fixturePath('golden', 'vae_encode.safetensors'));
  const expected = nchwToNhwc(v.tensor('image').readSync(), [1, 3, 128, 128]);
  v.close();
  assert.deepEqual(u8ToFloatSigned(u8), expected);
  const ends = u8ToFloatSigned(Uint8Array.from([0, 255]));
  assert.deepEqual([...ends], [-1, 1]);
  assert.deepEqual([...u8ToFloatUnit(Uint8Array.from([0, 51, 255]))], [0, Math.fround(0.2), 1]);
});

test('decoded floats -> u8 equal the pipeline fixture outputs exactly; rounding is half to even', async () => {
  const f = await openSafetensors(fixturePath('golden', 'pipe_imgvar_cond.safetensors'));
  const decoded = nchwToNhwc(f.tensor('decoded_images').readSync(), [3, 3, 128, 128]);
  const expected = Uint8Array.from(f.tensor('output_images_u8').readSync());
  f.close();
  assert.deepEqual(floatToU8(decoded), expected);

  assert.deepEqual([0.5, 1.5, 2.5, 126.5, 127.5, -0.5, -1.5, 2.4999, 2.5001].map(roundHalfEven), [0, 2, 2, 126, 128, -0, -2, 2, 3]);
  // x = 0 -> 0.5 * 255 = 127.5 -> 128; clamping; NaN -> 0
  assert.deepEqual([...floatToU8(Float32Array.from([0, -1, 1, -3, 7, NaN]))], [128, 0, 255, 0, 255, 0]);
  // inputs whose scaled value is exactly k + 0.5 in float32 round to the even neighbour
  let checked = 0;
  for (let k = 0; k < 255; k++) {
    const x = Math.fround(((k + 0.5) / 255) * 2 - 1);
    const scaled = Math.fround(Math.fround(Math.fround(x / 2) + 0.5) * 255);
    if (scaled !== k + 0.5) continue;
    assert.equal(floatToU8(Float32Array.of(x))[0], k % 2 === 0 ? k : k + 1, `k = ${k}`);
    checked++;
  }
  assert.ok(checked >= 10, `only ${checked} exact ties found`);
});

test('writePng: round trip of pixels and text (tEXt for Latin-1, iTXt beyond), existing file replaced', async () => {
  const w = 8;
  const h = 8;
  const rgb = Uint8Array.from({ length: w * h * 3 }, (_, i) => (i * 37) % 256);
  const out = file('out.png');
  writeFileSync(out, 'old content');
  const text = { parameters: 'a photo of a cat, steps 50, cfg 7.5\nsecond line', seed: '42', 'Comment é': 'café', prompt: '猫の写真 🐱' };
  await writePng(out, rgb, w, h, { text });
  const img = await readImage(out);
  assert.deepEqual([img.width, img.height], [w, h]);
  assert.deepEqual(img.data, rgb);
  assert.deepEqual(await readPngText(out), text);
  const bytes = readFileSync(out);
  assert.equal(bytes.indexOf('tEXtparameters'), bytes.indexOf('tEXt'), 'parameters stored as tEXt');
  assert.ok(bytes.includes('tEXtComment \xe9', 0, 'latin1'), 'Latin-1 keyword and text stored as tEXt');
  assert.ok(bytes.includes('iTXtprompt'), 'non-Latin-1 text stored as iTXt');
  assert.deepEqual(readdirSync(tmp).filter((n) => n.endsWith('.tmp')), []);
});

test('readPngText: zTXt, compressed iTXt; corrupt CRC and non-PNG refused', async () => {
  const base = readFileSync(fixturePath('golden', 'control_image.png'));
  const iend = base.length - 12;
  const ztxt = chunk('zTXt', Buffer.concat([Buffer.from('Software\0\0', 'latin1'), zlib.deflateSync(Buffer.from('sd'))]));
  const itxt = chunk('iTXt', Buffer.concat([Buffer.from('Title\0\x01\0en\0Titel\0', 'latin1'), zlib.deflateSync(Buffer.from('Ünïcode', 'utf8'))]));
  const withText = Buffer.concat([base.subarray(0, iend), ztxt, itxt, base.subarray(iend)]);
  assert.deepEqual(await readPngText(withText), { Software: 'sd', Title: 'Ünïcode' });
  const corrupt = Buffer.from(withText);
  corrupt[iend + 10] ^= 0xff;
  await rejectsWith(readPngText(corrupt), 'ERR_INDETAIL_BAD_FILE', 'CRC');
  writeFileSync(file('not.png'), 'hello');
  await rejectsWith(readPngText(file('not.png')), 'ERR_INDETAIL_BAD_FILE', file('not.png'), 'signature');
  await rejectsWith(readPngText(file('absent.png')), 'ERR_INDETAIL_IO', file('absent.png'));
});

test('atomic writes: a failure midway leaves no file and keeps an existing one', async () => {
  async function* failing() {
    yield Buffer.alloc(4096, 1);
    yield Buffer.alloc(4096, 2);
    throw new Error('encoder crashed');
  }
  const fresh = file('fresh.png');
  await rejectsWith(writeFileAtomic(fresh, failing()), 'ERR_INDETAIL_IO', fresh, 'encoder crashed');
  assert.equal(existsSync(fresh), false, 'no partial file');

  const kept = file('kept.png');
  writeFileSync(kept, 'previous image');
  await rejectsWith(writeFileAtomic(kept, failing()), 'ERR_INDETAIL_IO', kept);
  assert.equal(readFileSync(kept, 'utf8'), 'previous image');

  // the rename fails (destination is a directory): the temporary file is removed
  mkdirSync(file('dest-dir.png'));
  await rejectsWith(writePng(file('dest-dir.png'), new Uint8Array(3), 1, 1), 'ERR_INDETAIL_IO', file('dest-dir.png'));
  await rejectsWith(writePng(file('no-such-dir/x.png'), new Uint8Array(3), 1, 1), 'ERR_INDETAIL_IO', 'no-such-dir');
  assert.deepEqual(readdirSync(tmp).filter((n) => n.endsWith('.tmp')), [], 'no temporary files left');

  // invalid arguments are refused before anything is written
  await rejectsWith(writePng(kept, new Uint8Array(5), 1, 1), 'ERR_INDETAIL_INVALID_ARGUMENT', '3 bytes');
  await rejectsWith(writePng(kept, new Uint8Array(3), 1, 1, { text: { ' bad key': 'x' } }), 'ERR_INDETAIL_INVALID_ARGUMENT', 'keyword');
  await rejectsWith(writePng(kept, new Uint8Array(3), 1, 1, { text: { k: 'a\0b' } }), 'ERR_INDETAIL_INVALID_ARGUMENT', 'NUL');
  await rejectsWith(writePng(kept, new Uint8Array(3), 0, 1), 'ERR_INDETAIL_INVALID_ARGUMENT', 'width');
  assert.equal(readFileSync(kept, 'utf8'), 'previous image');
});
