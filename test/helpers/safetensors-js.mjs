// An independent pure-JavaScript safetensors reader and writer, used by tests to cross-check the
// native reader and to build corrupt files. Not used by the package.
import { readFileSync, writeFileSync } from 'node:fs';

export function f16ToF32(h) {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

export function readSafetensorsJs(file) {
  const buf = readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  const base = 8 + n;
  const tensors = {};
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    tensors[name] = info;
  }
  function values(name) {
    const { dtype, data_offsets: [b, e] } = tensors[name];
    const bytes = buf.subarray(base + b, base + e);
    const out = [];
    if (dtype === 'F16') for (let i = 0; i < bytes.length; i += 2) out.push(f16ToF32(bytes.readUInt16LE(i)));
    else if (dtype === 'F32') for (let i = 0; i < bytes.length; i += 4) out.push(bytes.readFloatLE(i));
    else if (dtype === 'I64') for (let i = 0; i < bytes.length; i += 8) out.push(Number(bytes.readBigInt64LE(i)));
    else if (dtype === 'I32') for (let i = 0; i < bytes.length; i += 4) out.push(bytes.readInt32LE(i));
    else if (dtype === 'U8') for (let i = 0; i < bytes.length; i++) out.push(bytes[i]);
    else throw new Error(`test reader: dtype ${dtype} not handled`);
    return out;
  }
  return { header, tensors, values, metadata: header.__metadata__ };
}

// Writes a file from a raw header string (or object) and a data buffer, with an optional
// explicit header length (to fake corrupt lengths).
export function writeRawSafetensors(file, header, data = Buffer.alloc(0), headerLength) {
  const h = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(headerLength ?? h.length));
  writeFileSync(file, Buffer.concat([len, h, data]));
}
