// CLIPTokenizer beyond the golden prompts: loading and its errors, argument checks, padding with
// a configured pad token (SD2's '!'), truncation warnings, batches, the word cache, decoding, and
// the Python semantics the reference tokenizer has (see test/fixtures/README.md, "tokenizer").
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { CLIPTokenizer, IndetailError } from '../dist/index.js';
import { fixturePath } from './helpers/fixtures.mjs';

const modelDir = fixturePath('tiny-sd15');
const tokDir = path.join(modelDir, 'tokenizer');
const vocab = JSON.parse(readFileSync(path.join(tokDir, 'vocab.json'), 'utf8'));
const BOS = vocab['<|startoftext|>'];
const EOS = vocab['<|endoftext|>'];
const tok = await CLIPTokenizer.fromFolder(tokDir);

const scratch = mkdtempSync(path.join(tmpdir(), 'indetail-tokenizer-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
let copies = 0;

// A copy of the fixture tokenizer folder, changed by `edit(dir)`.
function tokenizerCopy(edit) {
  const dir = path.join(scratch, `tok${copies++}`);
  cpSync(tokDir, dir, { recursive: true });
  edit(dir);
  return dir;
}

function editJson(dir, file, change) {
  const p = path.join(dir, file);
  const json = JSON.parse(readFileSync(p, 'utf8'));
  change(json);
  writeFileSync(p, JSON.stringify(json, null, 2));
}

function padded(ids, pad, length = 77) {
  return [...ids, ...new Array(length - ids.length).fill(pad)];
}

async function rejectsWith(promise, code, ...fragments) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof IndetailError, `expected an IndetailError, got ${err}`);
    assert.equal(err.code, code, err.message);
    for (const f of fragments) assert.ok(err.message.includes(f), `message ${JSON.stringify(err.message)} should mention ${JSON.stringify(f)}`);
    return true;
  });
}

function throwsWith(fn, code, ...fragments) {
  assert.throws(fn, (err) => {
    assert.ok(err instanceof IndetailError, `expected an IndetailError, got ${err}`);
    assert.equal(err.code, code, err.message);
    for (const f of fragments) assert.ok(err.message.includes(f), `message ${JSON.stringify(err.message)} should mention ${JSON.stringify(f)}`);
    return true;
  });
}

test('the configuration comes from the tokenizer folder', () => {
  assert.equal(tok.modelMaxLength, 77);
  assert.equal(tok.bosToken, '<|startoftext|>');
  assert.equal(tok.eosToken, '<|endoftext|>');
  assert.equal(tok.padToken, '<|endoftext|>');
  assert.equal(tok.bosTokenId, 49406);
  assert.equal(tok.eosTokenId, 49407);
  assert.equal(tok.padTokenId, 49407);
  assert.equal(tok.vocabSize, Object.keys(vocab).length);
  assert.deepEqual(tok.addedTokens.map((t) => t.content).sort(), ['<|endoftext|>', '<|startoftext|>']);
});

test('"a photo of a cat" gives the well-known SD1.5 ids', () => {
  const e = tok.encode('a photo of a cat');
  assert.ok(e.ids instanceof Int32Array && e.attentionMask instanceof Int32Array);
  assert.deepEqual(Array.from(e.ids), padded([49406, 320, 1125, 539, 320, 2368, 49407], 49407));
  assert.deepEqual(Array.from(e.attentionMask), padded([1, 1, 1, 1, 1, 1, 1], 0));
  assert.deepEqual(e.tokens, ['a</w>', 'photo</w>', 'of</w>', 'a</w>', 'cat</w>']);
  assert.equal(e.numTokensUntruncated, 7);
  assert.equal(e.truncated, false);
  assert.deepEqual(tok.tokenize('a photo of a cat'), e.tokens);
});

test('a diffusers model folder is accepted in place of its tokenizer/ folder', async () => {
  const t = await CLIPTokenizer.fromFolder(modelDir);
  assert.equal(t.dir, tokDir);
  assert.deepEqual(Array.from(t.encode('a photo of a cat').ids), Array.from(tok.encode('a photo of a cat').ids));
});

test('the empty prompt and a blank prompt are bos, eos and padding', () => {
  for (const p of ['', '   ', '\t\n\u3000']) {
    const e = tok.encode(p);
    assert.deepEqual(Array.from(e.ids), padded([BOS, EOS], EOS), JSON.stringify(p));
    assert.deepEqual(Array.from(e.attentionMask), padded([1, 1], 0));
    assert.deepEqual(e.tokens, []);
    assert.equal(e.numTokensUntruncated, 2);
  }
});

test('emoji are byte-level BPE tokens of the vocabulary and decode back', () => {
  const e = tok.encode('a cat 🐱 and a dog 🐶');
  assert.deepEqual(e.tokens, ['a</w>', 'cat</w>', 'ðŁĲ±</w>', 'and</w>', 'a</w>', 'dog</w>', 'ðŁĲ¶</w>']);
  assert.deepEqual(Array.from(e.ids.slice(1, 8)), e.tokens.map((t) => vocab[t]));
  assert.equal(tok.decode(e.ids), 'a cat 🐱 and a dog 🐶');
  // A ZWJ family sequence: the joiners are category Cf and dropped before BPE.
  assert.deepEqual(tok.tokenize('👨\u200d👩\u200d👧'), tok.tokenize('👨👩👧'));
});

test('decode writes the text of ids without the added tokens', () => {
  assert.equal(tok.decode(tok.encode('A Photo of a CAT!').ids), 'a photo of a cat !');
  assert.equal(tok.decode(tok.encode('Привет, мир').ids), 'привет , мир');
  throwsWith(() => tok.decode([1 << 30]), 'ERR_INDETAIL_INVALID_ARGUMENT', 'ids[0]');
});

test('non-string prompts are rejected with an error naming the argument', () => {
  for (const bad of [42, null, undefined, { text: 'a cat' }, ['a cat'], Symbol('x')]) {
    throwsWith(() => tok.encode(bad), 'ERR_INDETAIL_INVALID_ARGUMENT', 'Expected a string for prompt');
    throwsWith(() => tok.tokenize(bad), 'ERR_INDETAIL_INVALID_ARGUMENT', 'prompt');
  }
  throwsWith(() => tok.encodeBatch('a cat'), 'ERR_INDETAIL_INVALID_ARGUMENT', 'Expected an array of strings for prompts');
  throwsWith(() => tok.encodeBatch(['a cat', 7]), 'ERR_INDETAIL_INVALID_ARGUMENT', 'prompts[1]', 'number');
});

test('loading: a missing folder, vocab.json or merges.txt is named in the error', async () => {
  await rejectsWith(CLIPTokenizer.fromFolder(path.join(scratch, 'no-such-folder')), 'ERR_INDETAIL_IO', 'no-such-folder', 'does not exist');
  const noVocab = tokenizerCopy((d) => unlinkSync(path.join(d, 'vocab.json')));
  await rejectsWith(CLIPTokenizer.fromFolder(noVocab), 'ERR_INDETAIL_IO', path.join(noVocab, 'vocab.json'), 'missing');
  const noMerges = tokenizerCopy((d) => unlinkSync(path.join(d, 'merges.txt')));
  await rejectsWith(CLIPTokenizer.fromFolder(noMerges), 'ERR_INDETAIL_IO', path.join(noMerges, 'merges.txt'), 'missing');
  await assert.rejects(CLIPTokenizer.fromFolder(42), /Expected a folder path for dir/);
});

test('loading: corrupt files are named with the problem', async () => {
  const cases = [
    ['vocab.json', (d) => writeFileSync(path.join(d, 'vocab.json'), readFileSync(path.join(tokDir, 'vocab.json'), 'utf8').slice(0, 5000)), 'not valid JSON'],
    ['vocab.json', (d) => writeFileSync(path.join(d, 'vocab.json'), '[1, 2]'), 'JSON object'],
    ['vocab.json', (d) => editJson(d, 'vocab.json', (v) => (v['cat</w>'] = 'x')), '"cat</w>"'],
    ['merges.txt', (d) => writeFileSync(path.join(d, 'merges.txt'), '#version: 0.2\ni n\nt h e\n'), 'line 3'],
    ['merges.txt', (d) => writeFileSync(path.join(d, 'merges.txt'), '#version: 0.2\n'), 'no merges'],
    ['tokenizer_config.json', (d) => writeFileSync(path.join(d, 'tokenizer_config.json'), '{"model_max_length": 77,'), 'not valid JSON'],
    ['tokenizer_config.json', (d) => editJson(d, 'tokenizer_config.json', (c) => (c.model_max_length = 'long')), 'model_max_length'],
    ['special_tokens_map.json', (d) => writeFileSync(path.join(d, 'special_tokens_map.json'), 'pad_token: "!"'), 'not valid JSON'],
    ['special_tokens_map.json', (d) => editJson(d, 'special_tokens_map.json', (m) => (m.pad_token = 3)), 'pad_token'],
    ['special_tokens_map.json', (d) => editJson(d, 'special_tokens_map.json', (m) => (m.pad_token = '<|not-a-token|>')), 'not in'],
  ];
  for (const [file, edit, fragment] of cases) {
    const dir = tokenizerCopy(edit);
    await rejectsWith(CLIPTokenizer.fromFolder(dir), 'ERR_INDETAIL_BAD_FILE', file, fragment);
  }
});

test('loading: model_max_length comes from tokenizer_config.json or the options', async () => {
  const noLength = tokenizerCopy((d) => editJson(d, 'tokenizer_config.json', (c) => delete c.model_max_length));
  await rejectsWith(CLIPTokenizer.fromFolder(noLength), 'ERR_INDETAIL_BAD_FILE', 'model_max_length');
  const t = await CLIPTokenizer.fromFolder(noLength, { modelMaxLength: 16 });
  const e = t.encode('a photo of a cat');
  assert.equal(e.ids.length, 16);
  assert.deepEqual(Array.from(e.ids), padded([49406, 320, 1125, 539, 320, 2368, 49407], 49407, 16));
  const shorter = tokenizerCopy((d) => editJson(d, 'tokenizer_config.json', (c) => (c.model_max_length = 5)));
  const s = (await CLIPTokenizer.fromFolder(shorter)).encode('a photo of a cat');
  assert.deepEqual(Array.from(s.ids), [49406, 320, 1125, 539, 49407]);
  assert.equal(s.truncated, true);
  await assert.rejects(CLIPTokenizer.fromFolder(tokDir, { modelMaxLength: 1 }), /integer >= 2 for modelMaxLength/);
});

test("SD2-style checkpoints pad with '!' as their config files say", async () => {
  const sd2 = tokenizerCopy((d) => {
    editJson(d, 'tokenizer_config.json', (c) => (c.pad_token = '!'));
    editJson(d, 'special_tokens_map.json', (m) => (m.pad_token = '!'));
  });
  const t = await CLIPTokenizer.fromFolder(sd2);
  assert.equal(t.padToken, '!');
  assert.equal(t.padTokenId, vocab['!']);
  const e = t.encode('a photo of a cat');
  assert.deepEqual(Array.from(e.ids), padded([49406, 320, 1125, 539, 320, 2368, 49407], vocab['!']));
  assert.deepEqual(Array.from(e.attentionMask), padded([1, 1, 1, 1, 1, 1, 1], 0));
  // The pad token is an added token, so a literal '!' is split out of the prompt with the id of
  // '!' rather than BPE-encoded to '!</w>' (as transformers does for SD2).
  assert.deepEqual(tok.tokenize('hello world!'), ['hello</w>', 'world</w>', '!</w>']);
  assert.deepEqual(t.tokenize('hello world!'), ['hello</w>', 'world</w>', '!']);
  assert.equal(t.encode('hello world!').ids[3], vocab['!']);
});

test('special_tokens_map.json overrides tokenizer_config.json unless the config has added_tokens_decoder', async () => {
  // SD2's real files: the config says '<|endoftext|>', the map says '!'; transformers pads with '!'.
  const legacy = tokenizerCopy((d) => editJson(d, 'special_tokens_map.json', (m) => (m.pad_token = '!')));
  assert.equal((await CLIPTokenizer.fromFolder(legacy)).padTokenId, vocab['!']);
  const modern = tokenizerCopy((d) => {
    editJson(d, 'special_tokens_map.json', (m) => (m.pad_token = '!'));
    editJson(d, 'tokenizer_config.json', (c) => {
      c.added_tokens_decoder = {
        49406: { content: '<|startoftext|>', lstrip: false, normalized: true, rstrip: false, single_word: false, special: true },
        49407: { content: '<|endoftext|>', lstrip: false, normalized: false, rstrip: false, single_word: false, special: true },
      };
    });
  });
  assert.equal((await CLIPTokenizer.fromFolder(modern)).padTokenId, EOS);
  const noConfigs = tokenizerCopy((d) => {
    unlinkSync(path.join(d, 'special_tokens_map.json'));
    editJson(d, 'tokenizer_config.json', (c) => {
      for (const k of ['bos_token', 'eos_token', 'pad_token', 'unk_token']) delete c[k];
    });
  });
  const t = await CLIPTokenizer.fromFolder(noConfigs);
  assert.deepEqual([t.bosTokenId, t.eosTokenId, t.padTokenId], [BOS, EOS, EOS], "CLIPTokenizer's defaults");
});

test('added tokens with rstrip/lstrip strip the whitespace beside them', async () => {
  const dir = tokenizerCopy((d) =>
    editJson(d, 'special_tokens_map.json', (m) => (m.additional_special_tokens = [{ content: 'cat', lstrip: true, rstrip: true }])),
  );
  const t = await CLIPTokenizer.fromFolder(dir);
  // Stripping only changes the text pieces; cleaning drops that whitespace anyway.
  assert.deepEqual(t.tokenize('a  cat  b'), ['a</w>', 'cat', 'b</w>']);
  assert.deepEqual(t.encode('a  cat  b').ids.slice(1, 4), Int32Array.from([vocab['a</w>'], vocab.cat, vocab['b</w>']]));
});

test('long prompts are truncated to 75 tokens with a warning', () => {
  const prompt = Array.from({ length: 100 }, (_, i) => (i < 75 ? 'a' : 'dog')).join(' ');
  const seen = [];
  const t = tok;
  const e = t.encode(prompt, { onWarning: (w) => seen.push(w) });
  assert.equal(e.truncated, true);
  assert.equal(e.numTokensUntruncated, 102);
  assert.equal(e.tokens.length, 100);
  assert.deepEqual(Array.from(e.ids), [BOS, ...new Array(75).fill(vocab['a</w>']), EOS]);
  assert.ok(e.attentionMask.every((m) => m === 1));
  assert.equal(seen.length, 1);
  const [w] = seen;
  assert.equal(w.code, 'PROMPT_TRUNCATED');
  assert.equal(w.prompt, prompt);
  assert.equal(w.numTokens, 102);
  assert.equal(w.maxLength, 77);
  assert.equal(w.droppedText, new Array(25).fill('dog').join(' '));
  assert.match(w.message, /truncated to 77 tokens \(it has 102\)/);

  // Exactly 75 tokens fit; no warning.
  const fits = tok.encode(new Array(75).fill('a').join(' '), { onWarning: (x) => seen.push(x) });
  assert.equal(fits.truncated, false);
  assert.equal(seen.length, 1);
});

test('the tokenizer-wide warning handler and a per-call handler', async () => {
  const global = [];
  const local = [];
  const t = await CLIPTokenizer.fromFolder(tokDir, { onWarning: (w) => global.push(w) });
  const long = new Array(80).fill('cat').join(' ');
  t.encode(long);
  t.encode(long, { onWarning: (w) => local.push(w) });
  t.encode('short');
  assert.equal(global.length, 1);
  assert.equal(local.length, 1);
  assert.doesNotThrow(() => tok.encode(long), 'no handler: truncation is silent apart from the flag');
  await assert.rejects(CLIPTokenizer.fromFolder(tokDir, { onWarning: 'log' }), /Expected a function for onWarning/);
});

test('encodeBatch lays prompts out as [batch, 77] rows', () => {
  const prompts = ['a photo of a cat', '', 'an owl, best quality, extremely detailed.'];
  const b = tok.encodeBatch(prompts);
  assert.deepEqual(b.shape, [3, 77]);
  assert.equal(b.ids.length, 3 * 77);
  prompts.forEach((p, i) => {
    const e = tok.encode(p);
    assert.deepEqual(Array.from(b.ids.subarray(i * 77, (i + 1) * 77)), Array.from(e.ids), p);
    assert.deepEqual(Array.from(b.attentionMask.subarray(i * 77, (i + 1) * 77)), Array.from(e.attentionMask), p);
    assert.deepEqual(b.items[i].tokens, e.tokens);
  });
  assert.deepEqual(tok.encodeBatch([]).shape, [0, 77]);
});

test('the per-word BPE cache: hits on repeated words, same results, bounded, clearable', async () => {
  const t = await CLIPTokenizer.fromFolder(tokDir);
  const uncached = await CLIPTokenizer.fromFolder(tokDir, { cacheCapacity: 0 });
  const prompt = 'a photograph of a cat, best quality, extremely detailed. Привет 🐱';
  assert.deepEqual(t.cacheStats(), { size: 0, capacity: 65536, hits: 0, misses: 0 });
  const first = t.encode(prompt);
  const words = ['a', 'photograph', 'of', 'cat', ',', 'best', 'quality', 'extremely', 'detailed', '.', 'привет', '🐱'];
  const s1 = t.cacheStats();
  assert.equal(s1.misses, words.length);
  assert.equal(s1.size, words.length);
  assert.equal(s1.hits, 2, "the second 'a' and the second ','");
  const second = t.encode(prompt);
  const s2 = t.cacheStats();
  assert.equal(s2.misses, s1.misses);
  assert.equal(s2.hits, s1.hits + 14);
  assert.deepEqual(Array.from(second.ids), Array.from(first.ids));
  assert.deepEqual(second.tokens, first.tokens);
  assert.deepEqual(Array.from(uncached.encode(prompt).ids), Array.from(first.ids));
  assert.equal(uncached.cacheStats().size, 0);

  const tiny = await CLIPTokenizer.fromFolder(tokDir, { cacheCapacity: 3 });
  assert.deepEqual(Array.from(tiny.encode(prompt).ids), Array.from(first.ids));
  assert.deepEqual(Array.from(tiny.encode(prompt).ids), Array.from(first.ids));
  assert.equal(tiny.cacheStats().size, 3);

  t.clearCache();
  assert.deepEqual(t.cacheStats(), { size: 0, capacity: 65536, hits: 0, misses: 0 });
  await assert.rejects(CLIPTokenizer.fromFolder(tokDir, { cacheCapacity: -1 }), /cacheCapacity/);
});

test('Python semantics of the reference: lower(), split(), category C, regex IGNORECASE', () => {
  const same = (a, b, why) => assert.deepEqual(tok.tokenize(a), tok.tokenize(b), why);
  same('ΟΔΟΣ', 'οδος', 'str.lower() maps a final capital sigma to ς');
  same('İstanbul', 'i\u0307stanbul', 'str.lower() of İ is i + combining dot');
  same('a\u2028b\u2029c', 'a b c', 'str.split() splits on U+2028/U+2029 (not Zs, kept by cleaning)');
  same('a\x85b\ufeffc\u200bd', 'abcd', 'U+0085 (Cc), U+FEFF and U+200B (Cf) are dropped');
  same('a\u00a0b\u2003c\u3000d', 'a b c d', 'category Zs becomes a space');
  same('a\0b\ufffdc', 'abc', 'U+0000 and U+FFFD are dropped');
  same('e\u0301', '\u00e9', 'NFC');
  same('猫猫', '猫 猫', 'CJK ideographs are spaced out');
  same('a\u0345b', 'a b', 'U+0345 matches no branch of the IGNORECASE regex and is skipped');
  same('\ud800a\udfff', 'a', 'lone surrogates are category Cs');
  assert.deepEqual(tok.tokenize("IT'S"), ['it</w>', "'s</w>"]);
});
