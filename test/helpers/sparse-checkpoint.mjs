// Safetensors files for tests of what is read from headers only (family detection, shape
// adoption): full-size key layouts whose data is a hole (a sparse file), and rewritten headers.
import { closeSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';

/** Writes dir/name: the header (padded to 8 bytes), then `data`, then zeros up to `dataLength` (a hole: a sparse file). */
export function writeCheckpoint(dir, name, header, data, dataLength = data.length) {
  let h = Buffer.from(JSON.stringify(header), 'utf8');
  h = Buffer.concat([h, Buffer.alloc((8 - (h.length % 8)) % 8, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  const file = path.join(dir, name);
  const fd = openSync(file, 'w');
  writeSync(fd, Buffer.concat([len, h, data]));
  ftruncateSync(fd, 8 + h.length + dataLength);
  closeSync(fd);
  return file;
}

/** A safetensors file of F16 tensors with these shapes whose data is a hole. */
export function sparseCheckpoint(dir, name, shapes, metadata) {
  const header = metadata ? { __metadata__: metadata } : {};
  let off = 0;
  for (const [k, shape] of Object.entries(shapes)) {
    const bytes = 2 * shape.reduce((a, b) => a * b, 1);
    header[k] = { dtype: 'F16', shape, data_offsets: [off, off + bytes] };
    off += bytes;
  }
  return writeCheckpoint(dir, name, header, Buffer.alloc(0), off);
}
