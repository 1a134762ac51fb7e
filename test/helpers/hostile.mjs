// Shared pieces of the hostile-input corpus (test/hostile-*.test.mjs): running the CLI with a hard
// time limit (a hang fails the test instead of stalling CI), scratch copies of the tiny model with
// one weight changed, and the special files (FIFOs, sockets, link loops) the inputs must refuse.
import { spawn, execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fixturePath, repoRoot } from './fixtures.mjs';
import { bf16Bits, f16Bits } from './low-precision.mjs';

export const cli = path.join(repoRoot, 'dist', 'cli', 'main.js');
export const tinyModel = fixturePath('tiny-sd15');
export const inputImage = fixturePath('golden', 'input_image.png');
/** The quick generation every CLI case uses: tiny model, 2 steps, 64x64. */
export const quick = ['--steps', '2', '--size', '64', '--seed', '7'];

/** A scratch folder removed by the returned function. */
export function scratch(prefix = 'indetail-hostile-') {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Runs the CLI; kills it (SIGKILL) after `timeoutMs`, which then resolves with timedOut true.
 * `onSpawn(child)` sees the process (to send it signals).
 */
export function runCli(args, { timeoutMs = 30_000, env = {}, onSpawn } = {}) {
  return new Promise((resolve) => {
    const started = performance.now();
    const p = spawn(process.execPath, [cli, ...args], { env: { ...process.env, INDETAIL_DISABLE_CUDA: '1', ...env } });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      p.kill('SIGKILL');
    }, timeoutMs);
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr, timedOut, ms: performance.now() - started });
    });
    onSpawn?.(p);
  });
}

/** A user error as the README promises it: exit 1, one "indetail:" message, no stack trace. */
export function assertUserError(assert, r, re, what = '') {
  assert.equal(r.timedOut, false, `${what}: timed out`);
  assert.equal(r.status, 1, `${what}: exit ${r.status}\n${r.stderr}`);
  assert.match(r.stderr, re, what);
  assert.equal(r.stderr.match(/^indetail: /gm)?.length ?? 0, 1, `${what}: one message\n${r.stderr}`);
  assert.doesNotMatch(r.stderr, /\n\s+at /, `${what}: no stack trace`);
}

export function mkfifo(file) {
  execFileSync('mkfifo', [file]);
  return file;
}

/** A listening Unix socket at `file`; close it with the returned function. */
export async function unixSocket(file) {
  const server = createServer();
  await new Promise((resolve) => server.listen(file, resolve));
  return () => new Promise((resolve) => server.close(resolve));
}

/** a -> b -> a */
export function symlinkLoop(dir, name = 'loop') {
  const a = path.join(dir, `${name}-a`);
  symlinkSync(path.join(dir, `${name}-b`), a);
  symlinkSync(a, path.join(dir, `${name}-b`));
  return a;
}

/** A copy of the tiny model under `dir`. */
export function copyTinyModel(dir, name = 'model') {
  const out = path.join(dir, name);
  cpSync(tinyModel, out, { recursive: true });
  return out;
}

/**
 * Rewrites one tensor of a safetensors file as `dtype` (F32, or F16 / BF16: the values must be
 * representable) with the values `fill(i)` returns (an independent writer: the header and offsets
 * are rebuilt here, not by the package).
 */
export function rewriteTensor(file, name, fill, dtype = 'F32') {
  const buf = readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  const base = 8 + n;
  const chunks = [];
  let offset = 0;
  const out = {};
  if (header.__metadata__) out.__metadata__ = header.__metadata__;
  for (const [key, info] of Object.entries(header)) {
    if (key === '__metadata__') continue;
    let data = buf.subarray(base + info.data_offsets[0], base + info.data_offsets[1]);
    if (key === name) {
      const count = info.shape.reduce((a, b) => a * b, 1);
      data = encodeFloats(Array.from({ length: count }, (_, i) => fill(i)), dtype);
    }
    out[key] = { dtype: key === name ? dtype : info.dtype, shape: info.shape, data_offsets: [offset, offset + data.length] };
    chunks.push(data);
    offset += data.length;
  }
  const h = Buffer.from(JSON.stringify(out), 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  writeFileSync(file, Buffer.concat([len, h, ...chunks]));
}

/** `values` as little-endian F32, F16 or BF16 bytes (F16 / BF16 values must be representable). */
export function encodeFloats(values, dtype) {
  if (dtype === 'F32') return Buffer.from(Float32Array.from(values).buffer);
  const bits = { F16: f16Bits, BF16: bf16Bits }[dtype];
  if (!bits) throw new Error(`encodeFloats: dtype ${dtype} not handled`);
  return Buffer.from(Uint16Array.from(values, bits).buffer);
}

/** Resident set size of this process in bytes (from /proc, not the V8 heap). */
export function rssBytes() {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return Number(m[1]) * 1024;
}
