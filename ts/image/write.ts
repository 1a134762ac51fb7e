// Writing RGB u8 images as PNG files, atomically, with optional text metadata (tEXt / iTXt).
import { deflateSync } from 'node:zlib';
import { IndetailError } from '../errors.js';
import { writeFileAtomic } from './atomic.js';
import { PNG_SIGNATURE, insertPngText, pngChunk } from './png-text.js';

export interface WritePngOptions {
  /** Text metadata (e.g. { parameters: '...', seed: '42' }), stored as tEXt or, beyond Latin-1, iTXt chunks. */
  text?: Record<string, string>;
}

/**
 * A minimal PNG encoder (8-bit RGB, each scanline with the Sub filter, zlib level 6): output needs
 * no native image library, so engines without libvips can still write their results.
 */
function encodeRgbPng(rgb: Uint8Array, width: number, height: number): Buffer {
  const stride = width * 3;
  const raw = Buffer.alloc((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    const row = y * stride;
    const o = y * (stride + 1);
    raw[o] = 1; // Sub: each byte minus the byte of the previous pixel
    for (let x = 0; x < stride; x++) raw[o + 1 + x] = (rgb[row + x]! - (x >= 3 ? rgb[row + x - 3]! : 0)) & 0xff;
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type RGB
  return Buffer.concat([PNG_SIGNATURE, pngChunk('IHDR', ihdr), pngChunk('IDAT', deflateSync(raw, { level: 6 })), pngChunk('IEND', new Uint8Array(0))]);
}

/** Encodes HxWx3 RGB pixels as a PNG with the text chunks inserted after IHDR. */
export async function encodePng(rgb: Uint8Array, width: number, height: number, options: WritePngOptions = {}): Promise<Buffer> {
  for (const [name, v] of [['width', width], ['height', height]] as const) {
    if (!Number.isInteger(v) || v < 1 || v > 65535) {
      throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `Expected an integer between 1 and 65535 for ${name} but received ${v}`);
    }
  }
  if (!(rgb instanceof Uint8Array) || rgb.length !== width * height * 3) {
    throw new IndetailError(
      'ERR_INDETAIL_INVALID_ARGUMENT',
      `Expected a Uint8Array of ${width}x${height}x3 = ${width * height * 3} bytes for rgb but received ${rgb instanceof Uint8Array ? `${rgb.length} bytes` : typeof rgb}`,
    );
  }
  const text = options.text ?? {};
  if (text === null || typeof text !== 'object') {
    throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `Expected an object of strings for text but received ${JSON.stringify(text)}`);
  }
  const png = encodeRgbPng(rgb, width, height);
  return insertPngText(png, text);
}

/** Writes a PNG atomically (temporary file + rename): the destination is complete or untouched. */
export async function writePng(file: string, rgb: Uint8Array, width: number, height: number, options: WritePngOptions = {}): Promise<void> {
  const png = await encodePng(rgb, width, height, options);
  await writeFileAtomic(file, png);
}
