// PNG text metadata: building tEXt / iTXt chunks and reading tEXt / zTXt / iTXt back.
// Chunk layout: 4-byte big-endian data length, 4-byte type, data, CRC-32 (ISO 3309, as zlib) of
// type + data. tEXt: keyword NUL text (Latin-1). iTXt: keyword NUL compression-flag
// compression-method language-tag NUL translated-keyword NUL text (UTF-8). zTXt: keyword NUL
// method zlib-data. Keywords: 1-79 Latin-1 printable characters, no leading, trailing or double
// spaces.
import { inflateSync } from 'node:zlib';
import { IndetailError } from '../errors.js';
import { readRegularFile } from '../files/input-file.js';
import { MAX_IMAGE_FILE_BYTES } from './read.js';

export const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(bytes: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

export function pngChunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  out.set(data, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

function checkKeyword(key: string): void {
  const ok =
    key.length >= 1 &&
    key.length <= 79 &&
    /^[\x20-\x7e\xa1-\xff]+$/.test(key) &&
    !key.startsWith(' ') &&
    !key.endsWith(' ') &&
    !key.includes('  ');
  if (!ok) {
    throw new IndetailError(
      'ERR_INDETAIL_INVALID_ARGUMENT',
      `PNG text keyword ${JSON.stringify(key)} is invalid: 1-79 printable Latin-1 characters without leading, trailing or double spaces`,
    );
  }
}

/** A tEXt chunk when the text is printable Latin-1 (plus newlines), else an uncompressed iTXt chunk. */
export function textChunk(key: string, text: string): Buffer {
  checkKeyword(key);
  if (typeof text !== 'string' || text.includes('\0')) {
    throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `PNG text for ${JSON.stringify(key)} must be a string without NUL characters`);
  }
  if (/^[\n\x20-\x7e\xa0-\xff]*$/.test(text)) {
    return pngChunk('tEXt', Buffer.concat([Buffer.from(key, 'latin1'), Buffer.from([0]), Buffer.from(text, 'latin1')]));
  }
  return pngChunk('iTXt', Buffer.concat([Buffer.from(key, 'latin1'), Buffer.from([0, 0, 0, 0, 0]), Buffer.from(text, 'utf8')]));
}

/** Inserts text chunks right after IHDR of an encoded PNG. */
export function insertPngText(png: Uint8Array, text: Record<string, string>): Buffer {
  const buf = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  if (buf.length < 33 || !buf.subarray(0, 8).equals(PNG_SIGNATURE) || buf.toString('latin1', 12, 16) !== 'IHDR') {
    throw new IndetailError('ERR_INDETAIL_INTERNAL', 'encoder output is not a PNG starting with IHDR');
  }
  const ihdrEnd = 8 + 12 + buf.readUInt32BE(8);
  const chunks = Object.entries(text).map(([k, v]) => textChunk(k, v));
  return Buffer.concat([buf.subarray(0, ihdrEnd), ...chunks, buf.subarray(ihdrEnd)]);
}

/**
 * The text metadata of a PNG (path or bytes): tEXt, zTXt and iTXt chunks, keyword -> text (a later
 * chunk with the same keyword wins). Chunk CRCs are checked.
 */
export async function readPngText(input: string | Uint8Array): Promise<Record<string, string>> {
  const name = typeof input === 'string' ? input : '<buffer>';
  let buf: Buffer;
  if (typeof input === 'string') {
    buf = await readRegularFile('PNG', input, { maxBytes: MAX_IMAGE_FILE_BYTES });
  } else {
    buf = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  }
  const badFile = (why: string) => new IndetailError('ERR_INDETAIL_BAD_FILE', `PNG ${name}: ${why}`);
  if (buf.length < 8 || !buf.subarray(0, 8).equals(PNG_SIGNATURE)) throw badFile('not a PNG file (bad signature)');
  const out: Record<string, string> = {};
  let pos = 8;
  while (pos < buf.length) {
    if (pos + 12 > buf.length) throw badFile(`truncated chunk header at byte ${pos}`);
    const len = buf.readUInt32BE(pos);
    const type = buf.toString('latin1', pos + 4, pos + 8);
    const end = pos + 8 + len;
    if (len > 0x7fffffff || end + 4 > buf.length) throw badFile(`chunk ${JSON.stringify(type)} at byte ${pos} runs past the end of the file`);
    if (crc32(buf.subarray(pos + 4, end)) !== buf.readUInt32BE(end)) throw badFile(`CRC mismatch in chunk ${JSON.stringify(type)} at byte ${pos}`);
    const data = buf.subarray(pos + 8, end);
    if (type === 'tEXt' || type === 'zTXt' || type === 'iTXt') {
      const nul = data.indexOf(0);
      if (nul < 1) throw badFile(`${type} chunk without a keyword`);
      const key = data.toString('latin1', 0, nul);
      try {
        if (type === 'tEXt') out[key] = data.toString('latin1', nul + 1);
        else if (type === 'zTXt') out[key] = inflateSync(data.subarray(nul + 2)).toString('latin1');
        else {
          const compressed = data[nul + 1] === 1;
          const lang = data.indexOf(0, nul + 3);
          const translated = lang < 0 ? -1 : data.indexOf(0, lang + 1);
          if (translated < 0) throw new Error('missing separators');
          const body = data.subarray(translated + 1);
          out[key] = (compressed ? inflateSync(body) : body).toString('utf8');
        }
      } catch (err) {
        throw badFile(`malformed ${type} chunk ${JSON.stringify(key)} (${(err as Error).message})`);
      }
    }
    pos = end + 4;
    if (type === 'IEND') break;
  }
  return out;
}
