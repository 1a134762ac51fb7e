// Hostile corpus, outputs: runs into the same --out never replace each other's images (the run
// number scheme of the README) unless --overwrite says so, also when two runs write at the same
// moment; a write that fails after the generation keeps the images in a fallback folder that
// the error names. Every test has a time limit.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { readPngText } from '../dist/index.js';
import { writeFileAtomic } from '../dist/image/index.js';
import { writeImagesOrKeep } from '../dist/cli/outputs.js';
import { inputImage, quick, runCli, scratch, tinyModel } from './helpers/hostile.mjs';

const LIMIT = { timeout: 60_000 };
const s = scratch();
after(() => s.remove());

const generate = (out, ...args) => runCli(['variation', '--model', tinyModel, '--image', inputImage, '--prompt', 'a cat', ...quick, '--out', out, ...args]);
const pngs = (dir) => readdirSync(dir).sort();

test('a second run into the same --out gets the next run number; --overwrite replaces', LIMIT, async () => {
  const out = path.join(s.dir, 'same');
  const first = await generate(out, '--samples', '2');
  assert.equal(first.status, 0, first.stderr);
  assert.deepEqual(pngs(out), ['variation-7-1.png', 'variation-7-2.png']);
  const before = statSync(path.join(out, 'variation-7-1.png'));
  const bytes = readFileSync(path.join(out, 'variation-7-1.png'));

  const second = await generate(out, '--samples', '2', '--json');
  assert.equal(second.status, 0, second.stderr);
  assert.deepEqual(JSON.parse(second.stdout).files.map((f) => path.basename(f)), ['variation-7-1_2.png', 'variation-7-2_2.png']);
  const after1 = statSync(path.join(out, 'variation-7-1.png'));
  assert.equal(after1.ino, before.ino, 'the first run\'s file was not replaced');
  assert.deepEqual(readFileSync(path.join(out, 'variation-7-1.png')), bytes);

  // A run with a file of the first set but not the second still takes a number free for every file.
  rmSync(path.join(out, 'variation-7-2_2.png'));
  const third = await generate(out, '--samples', '2');
  assert.equal(third.status, 0, third.stderr);
  assert.match(third.stdout, /variation-7-1_3\.png\n.*variation-7-2_3\.png/);

  const over = await generate(out, '--samples', '2', '--overwrite');
  assert.equal(over.status, 0, over.stderr);
  assert.match(over.stdout, /variation-7-1\.png\n.*variation-7-2\.png\n$/);
  assert.notEqual(statSync(path.join(out, 'variation-7-1.png')).ino, before.ino, 'replaced on request');
  assert.deepEqual(pngs(out), ['variation-7-1.png', 'variation-7-1_2.png', 'variation-7-1_3.png', 'variation-7-2.png', 'variation-7-2_3.png']);
});

test('two runs writing into the same --out at the same moment both keep their images', LIMIT, async () => {
  const out = path.join(s.dir, 'concurrent');
  const [a, b] = await Promise.all([generate(out, '--json'), generate(out, '--json')]);
  assert.equal(a.status, 0, a.stderr);
  assert.equal(b.status, 0, b.stderr);
  const files = [...JSON.parse(a.stdout).files, ...JSON.parse(b.stdout).files].map((f) => path.basename(f)).sort();
  assert.deepEqual(files, ['variation-7-1.png', 'variation-7-1_2.png']);
  assert.deepEqual(pngs(out), files, 'no temporary files left');
  for (const f of files) assert.equal(JSON.parse((await readPngText(path.join(out, f))).parameters).seed, '7');
});

test('writeFileAtomic without overwrite never replaces a file, even one it races with', LIMIT, async () => {
  const file = path.join(s.dir, 'taken.png');
  writeFileSync(file, 'old');
  await assert.rejects(writeFileAtomic(file, Buffer.from('new'), { overwrite: false }), (err) => err.code === 'ERR_INDETAIL_IO' && err.cause?.code === 'EEXIST');
  assert.equal(readFileSync(file, 'utf8'), 'old');
  assert.deepEqual(readdirSync(s.dir).filter((f) => f.includes('taken')), ['taken.png'], 'the temporary file is gone');
});

test('a write failing after the generation keeps the images and names where they are', LIMIT, async () => {
  // writeImagesOrKeep on a folder that became a file after it was checked.
  const gone = path.join(s.dir, 'gone');
  writeFileSync(gone, 'not a folder');
  const images = [{ frame: 1, png: readFileSync(inputImage) }, { frame: 2, png: Buffer.from('second') }];
  const err = await writeImagesOrKeep(images, { dir: gone, task: 'variation', seed: '5', overwrite: false }).then(
    () => assert.fail('expected a failure'),
    (e) => e,
  );
  assert.equal(err.code, 'ERR_INDETAIL_IO');
  const m = /saved instead to (\S+): variation-5-1\.png, variation-5-2\.png/.exec(err.message);
  assert.ok(m, err.message);
  assert.ok(m[1].startsWith(tmpdir()));
  assert.deepEqual(err.files, [path.join(m[1], 'variation-5-1.png'), path.join(m[1], 'variation-5-2.png')]);
  assert.deepEqual(readFileSync(err.files[0]), images[0].png);
  assert.equal(readFileSync(err.files[1], 'utf8'), 'second');
  rmSync(m[1], { recursive: true });
});

test('CLI: --out removed during the generation: exit 1, the images are kept and named', LIMIT, async () => {
  const out = path.join(s.dir, 'removed');
  let swapped = false;
  const r = await runCli(['variation', '--model', tinyModel, '--image', inputImage, '--prompt', 'a cat', '--steps', '4', '--size', '128', '--seed', '3', '--out', out], {
    onSpawn: (p) =>
      p.stderr.on('data', (d) => {
        // The backend note comes at the model load, before the generation.
        if (!swapped && /using the CPU backend/.test(String(d))) {
          swapped = true;
          rmSync(out, { recursive: true, force: true });
          writeFileSync(out, 'now a file');
        }
      }),
  });
  assert.ok(swapped);
  assert.equal(r.status, 1, r.stderr);
  const m = /^indetail: cannot write .*removed\/variation-3-1\.png: .*saved instead to (\S+): variation-3-1\.png\n$/m.exec(r.stderr);
  assert.ok(m, r.stderr);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
  assert.equal(r.stdout, '');
  const kept = path.join(m[1], 'variation-3-1.png');
  assert.ok(existsSync(kept));
  assert.equal(JSON.parse((await readPngText(kept)).parameters).seed, '3');
  rmSync(m[1], { recursive: true });
});
