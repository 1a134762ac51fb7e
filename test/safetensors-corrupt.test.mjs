// A corpus of broken files, built here: every one must be rejected with an error that names the
// file, the tensor (where there is one) and the problem — never a crash.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, readFileSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { openSafetensors } from '../dist/index.js';
import { fixturePath } from './helpers/fixtures.mjs';
import { writeRawSafetensors } from './helpers/safetensors-js.mjs';

const dir = mkdtempSync(path.join(tmpdir(), 'indetail-corrupt-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const f32 = (n) => Buffer.alloc(4 * n);
const corpus = [
  { name: 'empty', make: (p) => writeFileSync(p, Buffer.alloc(0)), match: /0 bytes, too short/ },
  { name: 'seven-bytes', make: (p) => writeFileSync(p, Buffer.alloc(7)), match: /7 bytes, too short/ },
  {
    name: 'truncated-data',
    make: (p) => {
      writeFileSync(p, readFileSync(fixturePath('tiny-sd15', 'vae', 'diffusion_pytorch_model.safetensors')));
      truncateSync(p, 100000);
    },
    match: /tensor '.+': data_offsets \[\d+, \d+\] run past the data section/,
  },
  { name: 'header-past-eof', make: (p) => writeRawSafetensors(p, '{}', Buffer.alloc(0), 4096), match: /header length 4096 bytes runs past the end of the file/ },
  { name: 'header-too-large', make: (p) => writeRawSafetensors(p, '{}', Buffer.alloc(0), 2 ** 40), match: /exceeds the limit/ },
  { name: 'zero-header', make: (p) => writeRawSafetensors(p, '', Buffer.alloc(0), 0), match: /empty header/ },
  { name: 'invalid-json', make: (p) => writeRawSafetensors(p, '{"a": {"dtype": "F32",', f32(1)), match: /not valid JSON/ },
  { name: 'trailing-garbage', make: (p) => writeRawSafetensors(p, '{} x', f32(1)), match: /not valid JSON: unexpected data after the JSON value/ },
  {
    name: 'non-utf8',
    make: (p) => {
      const h = Buffer.concat([Buffer.from('{"w\u0000'.slice(0, 3)), Buffer.from([0xff, 0xfe]), Buffer.from('": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}')]);
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(h.length));
      writeFileSync(p, Buffer.concat([len, h, f32(1)]));
    },
    match: /invalid UTF-8/,
  },
  { name: 'not-an-object', make: (p) => writeRawSafetensors(p, '[1, 2]', f32(1)), match: /must be a JSON object, found array/ },
  { name: 'deep-nesting', make: (p) => writeRawSafetensors(p, '{"x":' + '['.repeat(100) + ']'.repeat(100) + '}', f32(1)), match: /nested deeper than/ },
  { name: 'unknown-dtype', make: (p) => writeRawSafetensors(p, { w: { dtype: 'Q4', shape: [1], data_offsets: [0, 4] } }, f32(1)), match: /tensor 'w': unknown dtype 'Q4'/ },
  { name: 'missing-dtype', make: (p) => writeRawSafetensors(p, { w: { shape: [1], data_offsets: [0, 4] } }, f32(1)), match: /tensor 'w': missing or non-string dtype/ },
  { name: 'bad-shape', make: (p) => writeRawSafetensors(p, { w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, f32(1)), match: /tensor 'w': shape entries must be non-negative integers/ },
  { name: 'fractional-shape', make: (p) => writeRawSafetensors(p, { w: { dtype: 'F32', shape: [1.5], data_offsets: [0, 4] } }, f32(1)), match: /tensor 'w': shape entries/ },
  { name: 'bad-offsets', make: (p) => writeRawSafetensors(p, { w: { dtype: 'F32', shape: [1], data_offsets: [0] } }, f32(1)), match: /tensor 'w': data_offsets must be an array of two integers/ },
  { name: 'offsets-reversed', make: (p) => writeRawSafetensors(p, { w: { dtype: 'F32', shape: [0], data_offsets: [8, 4] } }, f32(2)), match: /tensor 'w': data_offsets \[8, 4\] end before they begin/ },
  { name: 'offsets-out-of-range', make: (p) => writeRawSafetensors(p, { w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, f32(2)), match: /tensor 'w': data_offsets \[0, 16\] run past the data section \(8 bytes\)/ },
  {
    name: 'overlapping',
    make: (p) => writeRawSafetensors(p, { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, f32(3)),
    match: /tensors 'a' \[0, 8\) and 'b' \[4, 12\) overlap/,
  },
  { name: 'size-mismatch', make: (p) => writeRawSafetensors(p, { w: { dtype: 'F16', shape: [3, 3], data_offsets: [0, 16] } }, f32(4)), match: /tensor 'w': shape \[3, 3\] of F16 needs 18 bytes but data_offsets give 16/ },
  { name: 'huge-shape', make: (p) => writeRawSafetensors(p, { w: { dtype: 'F32', shape: [2 ** 40, 2 ** 40, 2 ** 40], data_offsets: [0, 4] } }, f32(1)), match: /tensor 'w': declared shape .* is impossibly large/ },
  { name: 'huge-but-countable-shape', make: (p) => writeRawSafetensors(p, { w: { dtype: 'F32', shape: [2 ** 31, 2 ** 31], data_offsets: [0, 4] } }, f32(1)), match: /tensor 'w': shape \[2147483648, 2147483648\] of F32 needs \d+ bytes but data_offsets give 4/ },
  { name: 'duplicate-name', make: (p) => writeRawSafetensors(p, '{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}', f32(1)), match: /tensor 'w' is declared twice/ },
  { name: 'bad-metadata', make: (p) => writeRawSafetensors(p, { __metadata__: { format: 1 } }, f32(0)), match: /__metadata__ value for 'format' is not a string/ },
  { name: 'directory', make: (p) => mkdirSync(p), match: /not a regular file/ },
];

for (const c of corpus) {
  test(`corrupt file '${c.name}' is rejected with a specific message`, async () => {
    const p = path.join(dir, `${c.name}.safetensors`);
    c.make(p);
    await assert.rejects(openSafetensors(p), (err) => {
      assert.equal(err.code, 'ERR_INDETAIL_BAD_FILE', `${c.name}: ${err.code}: ${err.message}`);
      assert.ok(err.message.startsWith(p), `the message names the file: ${err.message}`);
      assert.match(err.message, c.match);
      return true;
    });
  });
}

test('a missing file is an I/O error that names the path', async () => {
  const p = path.join(dir, 'does-not-exist.safetensors');
  await assert.rejects(openSafetensors(p), (err) => {
    assert.equal(err.code, 'ERR_INDETAIL_IO');
    assert.match(err.message, /does-not-exist\.safetensors: cannot open: No such file or directory/);
    return true;
  });
});

test('a valid file with an unsupported but known dtype opens; loading that tensor fails clearly', async () => {
  const p = path.join(dir, 'f64.safetensors');
  writeRawSafetensors(p, { d: { dtype: 'F64', shape: [1], data_offsets: [0, 8] }, f: { dtype: 'F32', shape: [1], data_offsets: [8, 12] } }, Buffer.alloc(12));
  const f = await openSafetensors(p);
  assert.equal(f.tensor('f').readSync()[0], 0);
  assert.throws(() => f.tensor('d'), (err) => err.code === 'ERR_INDETAIL_UNSUPPORTED' && /tensor 'd' has dtype F64/.test(err.message));
});

test('non-string paths are refused before reaching native code', async () => {
  await assert.rejects(openSafetensors(42), TypeError);
});
