// Hostile corpus, input files: only regular files (or folders where a folder is expected) are
// read. FIFOs, character devices, sockets and link loops are refused by name through the API and
// the CLI, quickly (a FIFO opened for reading would otherwise wait for a writer forever), and
// reads stay bounded when stat reports 0 bytes (/proc files). Every test has a time limit.
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { IndetailPipeline, openSafetensors, readImage } from '../dist/index.js';
import { readRegularFile } from '../dist/files/input-file.js';
import { assertUserError, copyTinyModel, inputImage, mkfifo, quick, runCli, scratch, symlinkLoop, tinyModel, unixSocket } from './helpers/hostile.mjs';

const LIMIT = { timeout: 30_000 };
const s = scratch();
let closeSocket;
const files = {};
let pipe;

before(async () => {
  files.fifo = mkfifo(path.join(s.dir, 'image.png'));
  files.socket = path.join(s.dir, 'image.sock');
  closeSocket = await unixSocket(files.socket);
  files.loop = symlinkLoop(s.dir);
  files.dir = path.join(s.dir, 'a-folder.png');
  mkdirSync(files.dir);
  pipe = await IndetailPipeline.load({ model: tinyModel, backend: 'cpu' });
});
after(async () => {
  pipe?.dispose();
  await closeSocket?.();
  s.remove();
});

const refusals = () => [
  ['a FIFO', files.fifo, /FIFO/],
  ['a character device', '/dev/zero', /character device/],
  ['a socket', files.socket, /socket/],
  ['a symbolic link loop', files.loop, /symbolic link loop/],
  ['a folder', files.dir, /directory/],
  ['a missing file', path.join(s.dir, 'missing.png'), /does not exist/],
];

test('images: FIFOs, devices, sockets, link loops and folders are refused by name (API)', LIMIT, async () => {
  for (const [what, file, re] of refusals()) {
    await assert.rejects(readImage(file), (err) => err.code === 'ERR_INDETAIL_IO' && re.test(err.message) && err.message.includes(file), what);
    await assert.rejects(pipe.variation({ image: file, prompt: 'x', steps: 1, size: 64 }), (err) => err.code === 'ERR_INDETAIL_IO' && re.test(err.message), what);
  }
});

test('images: the same through the CLI, exit 1 before the model loads', LIMIT, async () => {
  for (const [what, file, re] of refusals()) {
    const r = await runCli(['variation', '--model', tinyModel, '--image', file, '--prompt', 'x', ...quick, '--out', path.join(s.dir, 'out')]);
    assertUserError(assert, r, re, what);
    assert.doesNotMatch(r.stderr, /using the CPU backend/, `${what}: refused before the model load`);
  }
  const c = await runCli(['structure', '--model', tinyModel, '--controlnet', tinyModel, '--image', inputImage, '--control', files.fifo, '--prompt', 'x', ...quick]);
  assertUserError(assert, c, /--control .*FIFO/, 'control FIFO');
});

test('a file whose stat size is 0 (/proc) is read with the size bound holding', LIMIT, async () => {
  await assert.rejects(readImage('/proc/self/status'), (err) => err.code === 'ERR_INDETAIL_BAD_FILE' && /not a readable image/.test(err.message));
  // /proc/self/smaps says 0 bytes and yields tens of kilobytes: the bound still applies.
  await assert.rejects(readRegularFile('test file', '/proc/self/smaps', { maxBytes: 4096 }), (err) => err.code === 'ERR_INDETAIL_INVALID_ARGUMENT' && /more than 4096 bytes/.test(err.message));
  const small = await readRegularFile('test file', '/proc/self/status', { maxBytes: 1 << 20 });
  assert.match(small.toString(), /^Name:/);
});

test('models: a FIFO model, config, tokenizer file or weights file is refused, never waited on', LIMIT, async () => {
  const cases = [];
  const replaceWithFifo = (model, rel) => {
    rmSync(path.join(model, rel));
    mkfifo(path.join(model, rel));
  };
  let k = 0;
  for (const rel of ['model_index.json', 'unet/config.json', 'tokenizer/vocab.json', 'vae/diffusion_pytorch_model.safetensors']) {
    const model = copyTinyModel(s.dir, `fifo-${k++}`);
    replaceWithFifo(model, rel);
    cases.push([rel, model, new RegExp(`${path.basename(rel).replace('.', '\\.')}.*(FIFO|not a regular file)|FIFO.*${path.basename(rel)}`)]);
  }
  cases.push(['the model path', files.fifo, /FIFO/], ['a model link loop', files.loop, /symbolic link loop/]);
  for (const [what, model, re] of cases) {
    await assert.rejects(IndetailPipeline.load({ model, backend: 'cpu' }), (err) => /^ERR_INDETAIL_(IO|BAD_FILE)$/.test(err.code) && re.test(err.message), what);
    const r = await runCli(['variation', '--model', model, '--image', inputImage, '--prompt', 'x', ...quick, '--out', path.join(s.dir, 'out')]);
    assertUserError(assert, r, re, `CLI: ${what}`);
  }
  await assert.rejects(openSafetensors(files.fifo), (err) => err.code === 'ERR_INDETAIL_BAD_FILE' && /FIFO \(named pipe\), not a regular file/.test(err.message));
  await assert.rejects(openSafetensors(files.loop), (err) => err.code === 'ERR_INDETAIL_IO' && /symbolic link loop/.test(err.message));
});

test('--config must be an existing folder, and only goes with a single-file checkpoint', LIMIT, async () => {
  const single = path.join(path.dirname(tinyModel), 'tiny-sd15.safetensors');
  const notFolder = path.join(s.dir, 'config.json');
  writeFileSync(notFolder, '{}');
  const cases = [
    [{ model: single, config: path.join(s.dir, 'no-such-folder') }, /config folder not found/],
    [{ model: single, config: notFolder }, /is a regular file, not a folder/],
    [{ model: tinyModel, config: tinyModel }, /config is only used with single-file checkpoints/],
  ];
  for (const [load, re] of cases) {
    await assert.rejects(IndetailPipeline.load({ ...load, backend: 'cpu' }), (err) => re.test(err.message), String(re));
    const r = await runCli(['variation', '--model', load.model, '--config', load.config, '--image', inputImage, '--prompt', 'x', ...quick, '--out', path.join(s.dir, 'out')]);
    assertUserError(assert, r, re, String(re));
  }
  assert.deepEqual(readdirSync(s.dir).filter((f) => f === 'out'), [], 'nothing was written');
});
