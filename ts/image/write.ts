// Writing RGB u8 images as PNG files, atomically, with optional text metadata (tEXt / iTXt).
import { loadSharp } from './sharp.js';
import { IndetailError } from '../errors.js';
import { writeFileAtomic } from './atomic.js';
import { insertPngText } from './png-text.js';

export interface WritePngOptions {
  /** Text metadata (e.g. { parameters: '...', seed: '42' }), stored as tEXt or, beyond Latin-1, iTXt chunks. */
  text?: Record<string, string>;
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
  const sharp = await loadSharp();
  const png = await sharp(rgb, { raw: { width, height, channels: 3 } }).png().toBuffer();
  return insertPngText(png, text);
}

/** Writes a PNG atomically (temporary file + rename): the destination is complete or untouched. */
export async function writePng(file: string, rgb: Uint8Array, width: number, height: number, options: WritePngOptions = {}): Promise<void> {
  const png = await encodePng(rgb, width, height, options);
  await writeFileAtomic(file, png);
}
