// Decoding pictures to 8-bit sRGB RGB (HxWx3) with sharp, after cheap checks of the file and its
// header, so that bad input fails fast with an error naming the file:
//   missing / unreadable / not a regular file (folder, FIFO, device, socket, link loop) ->
//   ERR_INDETAIL_IO; empty, not an image, corrupt, truncated or
//   zero-sized -> ERR_INDETAIL_BAD_FILE; a known but unsupported format (GIF, SVG, HEIF, ...) ->
//   ERR_INDETAIL_UNSUPPORTED; dimensions above the limits -> ERR_INDETAIL_INVALID_ARGUMENT.
// Supported formats: PNG, JPEG, WebP, TIFF (first page). The EXIF orientation is applied. Alpha is
// removed by compositing over white (transparent pixels become white; the reference code's
// PIL `convert("RGB")` instead drops alpha and keeps whatever colour transparent pixels hold).
// Embedded ICC profiles are converted to sRGB; 16-bit images are scaled to 8 bits.
import type sharp from 'sharp';
import { loadSharp } from './sharp.js';
import { IndetailError } from '../errors.js';
import { readRegularFile } from '../files/input-file.js';

export interface RgbImage {
  /** Interleaved RGB, row-major: data[(y * width + x) * 3 + c]. */
  data: Uint8Array;
  width: number;
  height: number;
}

export interface ImageLimits {
  /** Largest accepted width or height in pixels (default 16384). */
  maxSide?: number;
  /** Largest accepted width x height (default 100,000,000 = 100 MP). */
  maxPixels?: number;
}

export interface ReadImageOptions extends ImageLimits {
  /** How a Buffer input is named in error messages (default "<buffer>"). */
  name?: string;
}

export const DEFAULT_MAX_SIDE = 16384;
export const DEFAULT_MAX_PIXELS = 100_000_000;
/** Files larger than this are refused before being read (1 GiB). */
export const MAX_IMAGE_FILE_BYTES = 1 << 30;

const SUPPORTED_FORMATS = new Set(['png', 'jpeg', 'webp', 'tiff']);

function limit(v: number | undefined, fallback: number, name: string): number {
  if (v === undefined) return fallback;
  if (!Number.isSafeInteger(v) || v < 1) {
    throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `Expected a positive integer for ${name} but received ${v}`);
  }
  return v;
}

async function readInput(input: string | Uint8Array, name: string): Promise<Buffer> {
  if (typeof input !== 'string') return Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  return readRegularFile('image', name, { maxBytes: MAX_IMAGE_FILE_BYTES });
}

/**
 * Decodes a PNG / JPEG / WebP / TIFF file (path) or encoded bytes (Buffer / Uint8Array) to RGB.
 * Dimensions are checked from the header before any pixel is decoded.
 */
export async function readImage(input: string | Uint8Array, options: ReadImageOptions = {}): Promise<RgbImage> {
  if (typeof input !== 'string' && !(input instanceof Uint8Array)) {
    throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `Expected a file path or a Buffer for image but received ${input === null ? 'null' : typeof input}`);
  }
  if (typeof input === 'string' && input.length === 0) {
    throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `Expected a file path or a Buffer for image but received ''`);
  }
  const name = typeof input === 'string' ? input : (options.name ?? '<buffer>');
  const maxSide = limit(options.maxSide, DEFAULT_MAX_SIDE, 'maxSide');
  const maxPixels = limit(options.maxPixels, DEFAULT_MAX_PIXELS, 'maxPixels');

  const bytes = await readInput(input, name);
  if (bytes.length === 0) throw new IndetailError('ERR_INDETAIL_BAD_FILE', `image ${name} is empty (0 bytes)`);

  let meta: sharp.Metadata;
  try {
    meta = await (await loadSharp())(bytes, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw new IndetailError('ERR_INDETAIL_BAD_FILE', `image ${name} is not a readable image (${(err as Error).message})`, { cause: err });
  }
  const format = meta.format ?? 'unknown';
  if (!SUPPORTED_FORMATS.has(format)) {
    throw new IndetailError('ERR_INDETAIL_UNSUPPORTED', `image ${name} is in ${format.toUpperCase()} format; supported formats are PNG, JPEG, WebP and TIFF`);
  }
  const { width, height } = meta;
  if (!width || !height) {
    throw new IndetailError('ERR_INDETAIL_BAD_FILE', `image ${name} has no pixels (${width ?? '?'}x${height ?? '?'})`);
  }
  if (width > maxSide || height > maxSide || width * height > maxPixels) {
    throw new IndetailError(
      'ERR_INDETAIL_INVALID_ARGUMENT',
      `image ${name} is ${width}x${height}, above the limits (${maxSide} pixels a side, ${maxPixels} pixels in all)`,
    );
  }

  let out: { data: Buffer; info: sharp.OutputInfo };
  try {
    out = await (await loadSharp())(bytes, { limitInputPixels: maxPixels, failOn: 'error' })
      .autoOrient()
      .flatten({ background: { r: 255, g: 255, b: 255 } })
      .toColourspace('srgb')
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw new IndetailError('ERR_INDETAIL_BAD_FILE', `image ${name} is corrupt or truncated (${(err as Error).message})`, { cause: err });
  }
  const { info, data } = out;
  if (info.channels !== 3 || data.length !== info.width * info.height * 3) {
    throw new IndetailError('ERR_INDETAIL_INTERNAL', `decoding ${name} gave ${info.channels} channels of ${info.width}x${info.height} (${data.length} bytes)`);
  }
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
}
