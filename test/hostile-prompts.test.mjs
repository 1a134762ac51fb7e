// Hostile corpus, prompts: megabyte prompts (many words, one endless word, a million special
// tokens, runs of spaces or control characters) are tokenised only as far as the text encoder's
// 77 tokens need, and are not stored twice in full in every PNG. API and CLI, with time limits.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { CLIPTokenizer, IndetailPipeline, MAX_COUNTED_TOKENS, readPngText } from '../dist/index.js';
import { inputImage, quick, runCli, scratch, tinyModel } from './helpers/hostile.mjs';

const LIMIT = { timeout: 30_000 };
const s = scratch();
let tok;
before(async () => {
  tok = await CLIPTokenizer.fromFolder(path.join(tinyModel, 'tokenizer'));
});
after(() => s.remove());

const MB = 1 << 20;

test('megabyte prompts of every shape encode quickly, to the same ids as their start', LIMIT, () => {
  const cases = {
    'many words': ['a cat on a mat ', 'a cat on a mat '.repeat(700_000)],
    'one endless word': ['qwertyuiopasdfghjkl', 'qwertyuiopasdfghjkl'.repeat(600_000)],
    'special tokens': ['<|endoftext|>', '<|endoftext|>'.repeat(800_000)],
    'ideographs without spaces': ['日本語', '日本語'.repeat(3 * MB)],
    'spaces, then a word': ['owl', `${' '.repeat(8 * MB)}owl`],
    'no-break spaces, then a word': ['owl', `${'\u00a0'.repeat(8 * MB)}owl`],
    'control characters, then a word': ['owl', `${'\u0001'.repeat(8 * MB)}owl`],
  };
  for (const [what, [head, prompt]] of Object.entries(cases)) {
    const t = performance.now();
    const e = tok.encode(prompt, { onWarning: () => {} });
    const ms = performance.now() - t;
    assert.ok(ms < 5000, `${what}: ${ms.toFixed(0)} ms`);
    assert.ok(e.numTokensUntruncated <= MAX_COUNTED_TOKENS + 2, what);
    // The ids the model sees are those of a prompt cut long after the 77th token (spaces and
    // control characters fold away in cleaning, so there the whole prompt is the word).
    const short = /then a word/.test(what) ? head : prompt.slice(0, 4000);
    assert.deepEqual(e.ids, tok.encode(short, { onWarning: () => {} }).ids, what);
  }
  // Below the counting bound, counts and the truncation warning are exact.
  let warning;
  const e = tok.encode(Array(100).fill('dog').join(' '), { onWarning: (w) => (warning = w) });
  assert.equal(e.numTokensUntruncated, 102);
  assert.match(warning.message, /\(it has 102\)/);
});

test('a 4 MB prompt through the pipeline: quick, and the PNG records it shortened', LIMIT, async () => {
  const pipe = await IndetailPipeline.load({ model: tinyModel, backend: 'cpu' });
  try {
    const prompt = 'a photograph of a cat '.repeat(200_000);
    const t = performance.now();
    const r = await pipe.variation({ image: inputImage, prompt, steps: 1, size: 64, seed: 1 });
    assert.ok(performance.now() - t < 20_000);
    assert.ok(r.images[0].png.length < 64 * 1024, `PNG of ${r.images[0].png.length} bytes`);
    const params = JSON.parse((await readPngText(r.images[0].png)).parameters);
    assert.match(params.prompt, new RegExp(`^a photograph of a cat .*… \\[cut: ${prompt.length} characters in all\\]$`));
    assert.equal(params.inversionPrompt, params.prompt);
    assert.ok(params.prompt.length < 4200);
  } finally {
    pipe.dispose();
  }
});

test('CLI: a 100 KB prompt generates and writes a small PNG', LIMIT, async () => {
  const out = path.join(s.dir, 'out');
  const prompt = 'a cat, '.repeat(14_000);
  const r = await runCli(['variation', '--model', tinyModel, '--image', inputImage, '--prompt', prompt, ...quick, '--out', out, '--json']);
  assert.equal(r.status, 0, r.stderr);
  const [file] = JSON.parse(r.stdout).files;
  assert.ok(readFileSync(file).length < 64 * 1024);
  assert.match(JSON.parse((await readPngText(file)).parameters).prompt, /\[cut: 98000 characters in all\]$/);
});
