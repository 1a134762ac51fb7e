// CLIP's image preprocessing as transformers' CLIPImageProcessor does it (the fixtures follow
// transformers 4.44.2), from the model's preprocessor_config.json:
//   resize: the shorter side to size.shortest_edge, the longer to int(shortest_edge * long / short)
//           (truncated), Pillow BICUBIC on the uint8 picture (a port of Pillow's, see image/resample.ts);
//   center_crop: top = (H - crop_h) // 2, left = (W - crop_w) // 2 (floor; zero padding first when
//           the picture is smaller than the crop). openai/CLIP's torchvision transform rounds the offset
//           instead, which moves the crop by one pixel where H - crop or W - crop is odd;
//   rescale: uint8 * rescale_factor in float64, then float32;
//   normalize: (x - mean) / std in float32.
// The result is NHWC-ready float32 pixels [crop_h, crop_w, 3].
import { IndetailError } from '../errors.js';
import { resizeBicubicPillow, type RgbImage } from '../image/index.js';
import { ConfigChecker, type RawConfig } from '../models/config-check.js';

export interface ClipProcessorConfig {
  shortestEdge: number;
  cropHeight: number;
  cropWidth: number;
  rescaleFactor: number;
  mean: [number, number, number];
  std: [number, number, number];
}

const f32 = Math.fround;

function triple(c: ConfigChecker, field: string, def: number[]): [number, number, number] {
  const v = c.raw[field] ?? def;
  if (!Array.isArray(v) || v.length !== 3 || !v.every((x) => typeof x === 'number' && Number.isFinite(x))) {
    throw new IndetailError('ERR_INDETAIL_BAD_FILE', `${c.source}: expected 3 numbers for '${field}' but found ${JSON.stringify(v)}`);
  }
  return v as [number, number, number];
}

function sizeField(c: ConfigChecker, field: string, def: unknown): RawConfig {
  const v = c.raw[field] ?? def;
  if (typeof v === 'number') return { shortest_edge: v, height: v, width: v };
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new IndetailError('ERR_INDETAIL_BAD_FILE', `${c.source}: expected a number or an object for '${field}' but found ${JSON.stringify(v)}`);
  }
  return v as RawConfig;
}

/** Checks a CLIPImageProcessor preprocessor_config.json; every step this port does not implement is refused by name. */
export function parseClipProcessorConfig(raw: RawConfig, source = 'preprocessor_config.json'): ClipProcessorConfig {
  const c = new ConfigChecker(raw, source);
  for (const step of ['do_resize', 'do_center_crop', 'do_rescale', 'do_normalize']) c.oneOf(step, [true], true);
  c.oneOf('resample', [3], 3); // PIL BICUBIC
  const size = new ConfigChecker(sizeField(c, 'size', { shortest_edge: 224 }), `${source} size`);
  const crop = new ConfigChecker(sizeField(c, 'crop_size', { height: 224, width: 224 }), `${source} crop_size`);
  const std = triple(c, 'image_std', [0.26862954, 0.26130258, 0.27577711]);
  if (!std.every((s) => s > 0)) throw new IndetailError('ERR_INDETAIL_BAD_FILE', `${source}: image_std must be positive, found ${JSON.stringify(std)}`);
  return {
    shortestEdge: size.positiveInt('shortest_edge'),
    cropHeight: crop.positiveInt('height'),
    cropWidth: crop.positiveInt('width'),
    rescaleFactor: c.number('rescale_factor', 1 / 255),
    mean: triple(c, 'image_mean', [0.48145466, 0.4578275, 0.40821073]),
    std,
  };
}

/** transformers' get_resize_output_image_size(default_to_square=False): [height, width]. */
export function clipResizeShape(height: number, width: number, shortestEdge: number): [number, number] {
  const short = Math.min(height, width);
  const long = Math.max(height, width);
  const newLong = Math.trunc((shortestEdge * long) / short);
  return height <= width ? [shortestEdge, newLong] : [newLong, shortestEdge];
}

/**
 * transformers' center_crop: the window starts at floor((H - crop_h) / 2), floor((W - crop_w) / 2);
 * where the picture is smaller than the crop it is zero-padded (centred) first, which leaves the
 * same source offsets with zeros outside the picture.
 */
export function centerCropFloor(img: RgbImage, cropHeight: number, cropWidth: number): RgbImage {
  const top = Math.floor((img.height - cropHeight) / 2);
  const left = Math.floor((img.width - cropWidth) / 2);
  const out = new Uint8Array(cropHeight * cropWidth * 3);
  for (let y = 0; y < cropHeight; y++) {
    const sy = top + y;
    if (sy < 0 || sy >= img.height) continue;
    const x0 = Math.max(0, -left);
    const x1 = Math.min(cropWidth, img.width - left);
    if (x1 > x0) out.set(img.data.subarray((sy * img.width + left + x0) * 3, (sy * img.width + left + x1) * 3), (y * cropWidth + x0) * 3);
  }
  return { data: out, width: cropWidth, height: cropHeight };
}

export interface ClipPreprocessed {
  /** [cropHeight, cropWidth, 3] float32, channels last. */
  pixels: Float32Array;
  height: number;
  width: number;
  /** The picture after the bicubic resize (before the crop). */
  resized: RgbImage;
}

/** One RGB picture through CLIPImageProcessor. */
export function clipPreprocess(img: RgbImage, cfg: ClipProcessorConfig): ClipPreprocessed {
  const [h, w] = clipResizeShape(img.height, img.width, cfg.shortestEdge);
  const resized = resizeBicubicPillow(img, w, h);
  const cropped = centerCropFloor(resized, cfg.cropHeight, cfg.cropWidth);
  const mean = cfg.mean.map(f32);
  const std = cfg.std.map(f32);
  const pixels = new Float32Array(cropped.data.length);
  for (let i = 0; i < pixels.length; i++) {
    const c = i % 3;
    pixels[i] = f32(f32(f32(cropped.data[i]! * cfg.rescaleFactor) - mean[c]!) / std[c]!);
  }
  return { pixels, height: cfg.cropHeight, width: cfg.cropWidth, resized };
}
