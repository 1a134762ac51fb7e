export { removePendingTemporaryFiles, writeFileAtomic, type WriteFileAtomicOptions } from './atomic.js';
export { floatToU8, roundHalfEven, u8ToFloatSigned, u8ToFloatUnit } from './convert.js';
export { MAX_TARGET_SIDE, checkTargetSize, cropAndResize, loadImage, type TargetSize } from './load.js';
export { crc32, insertPngText, readPngText } from './png-text.js';
export {
  DEFAULT_MAX_PIXELS,
  DEFAULT_MAX_SIDE,
  MAX_IMAGE_FILE_BYTES,
  readImage,
  type ImageLimits,
  type ReadImageOptions,
  type RgbImage,
} from './read.js';
export { crop, resizeBicubicPillow } from './resample.js';
export { encodePng, writePng, type WritePngOptions } from './write.js';
