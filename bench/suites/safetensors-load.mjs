// Safetensors load throughput: a generated ~1 GB F16 checkpoint opened and every tensor
// widened to F32 (what the CPU backend does at load), against a plain sequential read of the
// same file. Both run with the file in the page cache (it was just written).
import { closeSync, mkdtempSync, openSync, readSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openSafetensors } from '../../dist/index.js';

export const name = 'safetensors-load';
export const description = 'open + widen every tensor of a ~1 GB F16 file vs a sequential read';

function writeCheckpoint(file, tensors, elements) {
  const header = {};
  let offset = 0;
  for (let i = 0; i < tensors; i++) {
    header[`layer.${i}.weight`] = { dtype: 'F16', shape: [elements / 1024, 1024], data_offsets: [offset, offset + 2 * elements] };
    offset += 2 * elements;
  }
  header.__metadata__ = { format: 'pt' };
  let h = Buffer.from(JSON.stringify(header));
  h = Buffer.concat([h, Buffer.alloc((8 - (h.length % 8)) % 8, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  const fd = openSync(file, 'w');
  writeSync(fd, len);
  writeSync(fd, h);
  const chunk = Buffer.alloc(2 * elements);
  for (let i = 0; i < chunk.length; i += 2) chunk.writeUInt16LE(0x3c00 ^ (i & 0x3ff), i); // finite halves
  for (let i = 0; i < tensors; i++) writeSync(fd, chunk);
  closeSync(fd);
}

function sequentialRead(file) {
  const fd = openSync(file, 'r');
  const buf = Buffer.allocUnsafe(8 << 20);
  let total = 0;
  let n;
  while ((n = readSync(fd, buf, 0, buf.length, null)) > 0) total += n;
  closeSync(fd);
  return total;
}

export async function run({ quick = false } = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'indetail-bench-'));
  const file = path.join(dir, 'model.safetensors');
  const tensors = quick ? 8 : 64;
  const elements = 8 * 1024 * 1024; // 16 MiB of F16 per tensor -> 1 GiB for 64
  try {
    writeCheckpoint(file, tensors, elements);
    const bytes = statSync(file).size;
    const rows = [];
    const gb = bytes / 1e9;

    let t0 = performance.now();
    sequentialRead(file);
    let s = (performance.now() - t0) / 1000;
    rows.push({ case: 'sequential read (fs.readSync)', GB: gb, seconds: s, 'GB/s': gb / s });

    t0 = performance.now();
    const f = await openSafetensors(file);
    const openS = (performance.now() - t0) / 1000;
    rows.push({ case: 'open + validate header', GB: gb, seconds: openS, 'GB/s': null });

    t0 = performance.now();
    for (const e of f.entries()) f.tensor(e.name).dispose();
    s = (performance.now() - t0) / 1000;
    rows.push({ case: 'widen every tensor F16 -> F32', GB: gb, seconds: s, 'GB/s': gb / s });

    t0 = performance.now();
    for (const e of f.entries()) f.tensorRaw(e.name).dispose();
    s = (performance.now() - t0) / 1000;
    rows.push({ case: 'zero-copy views of every tensor', GB: gb, seconds: s, 'GB/s': gb / s });
    f.close();
    return { rows, notes: [`${tensors} tensors of ${elements} F16 values, file in the page cache`] };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
