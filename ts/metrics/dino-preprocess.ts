// The DINO preprocessing of the structure metrics (Splice's VitExtractor input): ToTensor
// (uint8 / 255 in float32), torchvision Resize(224, max_size=480) on the tensor, Normalize with
// the ImageNet mean and std. The resize is torch's bilinear interpolation with align_corners
// False and NO antialiasing (the tensor default of torchvision <= 0.16; Splice pins 0.10; newer
// torchvision antialiases by default and gives other numbers), each operation rounded to float32
// as torch's CPU kernel computes it.
import { IndetailError } from '../errors.js';
import type { RgbImage } from '../image/index.js';

export interface DinoPreprocessOptions {
  /** Target of the shorter side (default 224). */
  size?: number;
  /** Cap on the longer side (default 480). */
  maxSize?: number;
  /** Default the ImageNet mean [0.485, 0.456, 0.406]. */
  mean?: [number, number, number];
  /** Default the ImageNet std [0.229, 0.224, 0.225]. */
  std?: [number, number, number];
}

export interface DinoInput {
  /** [height, width, 3] float32, channels last. */
  pixels: Float32Array;
  height: number;
  width: number;
}

const f32 = Math.fround;
export const IMAGENET_MEAN: [number, number, number] = [0.485, 0.456, 0.406];
export const IMAGENET_STD: [number, number, number] = [0.229, 0.224, 0.225];

/** torchvision's _compute_resized_output_size for an int size and max_size: [height, width]. */
export function dinoResizeShape(height: number, width: number, size = 224, maxSize = 480): [number, number] {
  if (!(maxSize > size)) {
    throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `Expected maxSize (${maxSize}) above size (${size}) for the DINO resize`);
  }
  const [short, long] = width <= height ? [width, height] : [height, width];
  let newShort = size;
  let newLong = Math.trunc((size * long) / short);
  if (newLong > maxSize) {
    newShort = Math.trunc((maxSize * newShort) / newLong);
    newLong = maxSize;
  }
  return width <= height ? [newLong, newShort] : [newShort, newLong];
}

interface AxisTaps {
  i0: Int32Array;
  i1: Int32Array;
  w0: Float32Array;
  w1: Float32Array;
}

// torch's linear indices and weights (align_corners False) for one axis: the scale in float32
// (in / out), the source index scale * (i + 0.5) - 0.5 in double (ATen's 0.5 literals are double),
// the fraction rounded to float32. This matches the fixtures to 6e-7; with the source index
// rounded to float32 first (fractions near index 95 lose 4e-6) it would miss them by 1.2e-5.
function linearTaps(inSize: number, outSize: number): AxisTaps {
  const t = { i0: new Int32Array(outSize), i1: new Int32Array(outSize), w0: new Float32Array(outSize), w1: new Float32Array(outSize) };
  const scale = f32(inSize / outSize);
  for (let i = 0; i < outSize; i++) {
    if (inSize === outSize) {
      t.i0[i] = t.i1[i] = i;
      t.w0[i] = 1;
      t.w1[i] = 0;
      continue;
    }
    const src = Math.max(scale * (i + 0.5) - 0.5, 0);
    const i0 = Math.min(Math.floor(src), inSize - 1);
    const lambda = f32(Math.min(Math.max(src - i0, 0), 1));
    t.i0[i] = i0;
    t.i1[i] = i0 + (i0 < inSize - 1 ? 1 : 0);
    t.w1[i] = lambda;
    t.w0[i] = f32(1 - lambda);
  }
  return t;
}

/** torch F.interpolate(mode='bilinear', align_corners=False, antialias=False) on float32 HWC pixels. */
export function resizeBilinearTorch(src: Float32Array, height: number, width: number, outHeight: number, outWidth: number, channels = 3): Float32Array {
  const th = linearTaps(height, outHeight);
  const tw = linearTaps(width, outWidth);
  const out = new Float32Array(outHeight * outWidth * channels);
  for (let y = 0; y < outHeight; y++) {
    const r0 = th.i0[y]! * width;
    const r1 = th.i1[y]! * width;
    const h0 = th.w0[y]!;
    const h1 = th.w1[y]!;
    for (let x = 0; x < outWidth; x++) {
      const c0 = tw.i0[x]!;
      const c1 = tw.i1[x]!;
      const w0 = tw.w0[x]!;
      const w1 = tw.w1[x]!;
      for (let c = 0; c < channels; c++) {
        const top = f32(f32(src[(r0 + c0) * channels + c]! * w0) + f32(src[(r0 + c1) * channels + c]! * w1));
        const bottom = f32(f32(src[(r1 + c0) * channels + c]! * w0) + f32(src[(r1 + c1) * channels + c]! * w1));
        out[(y * outWidth + x) * channels + c] = f32(f32(top * h0) + f32(bottom * h1));
      }
    }
  }
  return out;
}

/** One RGB picture as the DINO ViT of the structure metrics sees it. */
export function dinoPreprocess(img: RgbImage, options: DinoPreprocessOptions = {}): DinoInput {
  const size = options.size ?? 224;
  const [height, width] = dinoResizeShape(img.height, img.width, size, options.maxSize ?? 480);
  const unit = new Float32Array(img.data.length);
  for (let i = 0; i < unit.length; i++) unit[i] = f32(img.data[i]! / 255);
  const resized = resizeBilinearTorch(unit, img.height, img.width, height, width);
  const mean = (options.mean ?? IMAGENET_MEAN).map(f32);
  const std = (options.std ?? IMAGENET_STD).map(f32);
  for (let i = 0; i < resized.length; i++) resized[i] = f32(f32(resized[i]! - mean[i % 3]!) / std[i % 3]!);
  return { pixels: resized, height, width };
}
