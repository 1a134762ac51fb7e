// The image prompt's decoder self-attention keys and values of one UNet, per denoising step
// (DESIGN.md §5): recorded by unet.forward({ recordKV }), read by unet.forward({ refKV }).
import { nativeSync } from '../errors.js';
import type { UNet } from './unet.js';

/** @internal */
export interface NativeKVCache {
  readonly steps: number;
  readonly rows: number;
  readonly layers: number;
  readonly bytes: number;
  readonly recordedSteps: number;
  readonly disposed: boolean;
  has(step: number): boolean;
  delete(step: number): void;
  clear(): void;
  dispose(): void;
}

/**
 * The image prompt's decoder self-attention keys and values, per denoising step: one K and one V
 * tensor [rows, tokens, width] per attn1 layer of the up blocks, resident on the UNet's engine
 * (device memory on CUDA). Filled by `unet.forward({ recordKV })`, read by `unet.forward({ refKV })`.
 */
export class ImagePromptKVCache implements Disposable {
  /** @internal */
  readonly native: NativeKVCache;
  /** @internal */
  readonly owner: UNet;

  /** @internal */
  constructor(owner: UNet, native: NativeKVCache) {
    this.owner = owner;
    this.native = native;
  }
  get steps(): number {
    return nativeSync(() => this.native.steps);
  }
  /** Reference rows per step (the image prompt's positive row, and its negative row under conflicting guidance). */
  get rows(): number {
    return nativeSync(() => this.native.rows);
  }
  /** Decoder self-attention layers per step. */
  get layers(): number {
    return nativeSync(() => this.native.layers);
  }
  /** Bytes of every K/V tensor held (0 once disposed). */
  get bytes(): number {
    return this.native.bytes;
  }
  get recordedSteps(): number {
    return this.native.recordedSteps;
  }
  get disposed(): boolean {
    return this.native.disposed;
  }
  has(step: number): boolean {
    return nativeSync(() => this.native.has(step));
  }
  delete(step: number): void {
    nativeSync(() => this.native.delete(step));
  }
  /** Forgets every step (the memory goes back to the engine's allocator). */
  clear(): void {
    nativeSync(() => this.native.clear());
  }
  /** Releases the tensors once no running forward uses them. */
  dispose(): void {
    this.native.dispose();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}

