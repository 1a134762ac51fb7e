export { philox4x32 } from './philox.js';
export { randn, seedKey, type RandnOptions, type Seed } from './randn.js';
