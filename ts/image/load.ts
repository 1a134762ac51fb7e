// The reference's image preprocessing (official src/utils.py `load_img`): centre-crop to a square
// with offset (long - short) // 2, then PIL `resize((size, size))` (bicubic; see resample.ts).
// For a W x H target the crop takes the target's aspect ratio around the centre instead; with
// W = H this is exactly the reference's crop.
import { IndetailError } from '../errors.js';
import { readImage, type ReadImageOptions, type RgbImage } from './read.js';
import { crop, resizeBicubicPillow } from './resample.js';

/** Largest accepted target side for loadImage. */
export const MAX_TARGET_SIDE = 8192;

export type TargetSize = number | { width: number; height: number };

function checkSide(v: unknown, name: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 8 || v > MAX_TARGET_SIDE || v % 8 !== 0) {
    throw new IndetailError(
      'ERR_INDETAIL_INVALID_ARGUMENT',
      `Expected a multiple of 8 between 8 and ${MAX_TARGET_SIDE} for ${name} but received ${JSON.stringify(v)}`,
    );
  }
  return v;
}

export function checkTargetSize(size: TargetSize): { width: number; height: number } {
  if (typeof size === 'number') {
    const s = checkSide(size, 'size');
    return { width: s, height: s };
  }
  if (size === null || typeof size !== 'object') {
    throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `Expected a number or { width, height } for size but received ${JSON.stringify(size)}`);
  }
  return { width: checkSide(size.width, 'size.width'), height: checkSide(size.height, 'size.height') };
}

/** Centre crop of `img` to the aspect ratio width:height, then a Pillow-exact bicubic resize. */
export function cropAndResize(img: RgbImage, width: number, height: number): RgbImage {
  let cw = img.width;
  let ch = img.height;
  if (img.width * height > img.height * width) {
    cw = Math.min(img.width, Math.max(1, Math.round((img.height * width) / height)));
  } else if (img.width * height < img.height * width) {
    ch = Math.min(img.height, Math.max(1, Math.round((img.width * height) / width)));
  }
  const cropped = crop(img, Math.floor((img.width - cw) / 2), Math.floor((img.height - ch) / 2), cw, ch);
  return resizeBicubicPillow(cropped, width, height);
}

/** Reads an image and prepares it as the reference does for an image prompt / control image. */
export async function loadImage(input: string | Uint8Array, size: TargetSize, options: ReadImageOptions = {}): Promise<RgbImage> {
  const { width, height } = checkTargetSize(size);
  const img = await readImage(input, options);
  return cropAndResize(img, width, height);
}
