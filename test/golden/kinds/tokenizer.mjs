// Golden kind `tokenizer`: every prompt of the case's tokenizer.json through CLIPTokenizer, loaded
// from the case's tokenizer_dir (default: the manifest's diffusers folder's tokenizer/); ids,
// attention mask, BPE tokens, untruncated length and the truncation flag must all match exactly.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CLIPTokenizer } from '../../../dist/index.js';
import { modelDir } from '../../helpers/fixtures.mjs';

export const kind = 'tokenizer';

export async function run(caseSpec, ctx) {
  assert.equal(caseSpec.tolerance?.exact, true, 'the tokenizer case must be compared exactly');
  const golden = JSON.parse(readFileSync(ctx.file, 'utf8'));
  const params = caseSpec.parameters ?? {};
  if (params.tokenizer_dir && golden.tokenizer) assert.equal(params.tokenizer_dir, golden.tokenizer, 'tokenizer folder: case parameters vs golden file');
  const named = params.tokenizer_dir ?? golden.tokenizer;
  const dir = named ? path.join(ctx.root, named) : modelDir(ctx, 'diffusers', 'tokenizer');
  const warnings = [];
  const tok = await CLIPTokenizer.fromFolder(dir, { onWarning: (w) => warnings.push(w) });

  assert.equal(tok.modelMaxLength, params.max_length ?? 77, 'model_max_length');
  assert.equal(tok.padToken, golden.pad_token, 'pad token');
  assert.equal(tok.padTokenId, golden.pad_token_id, 'pad token id');
  if (params.pad_token !== undefined) assert.equal(tok.padToken, params.pad_token, 'pad token (case parameters)');
  if (params.pad_token_id !== undefined) assert.equal(tok.padTokenId, params.pad_token_id, 'pad token id (case parameters)');
  assert.equal(tok.bosTokenId, golden.bos_token_id, 'bos token id');
  assert.equal(tok.eosTokenId, golden.eos_token_id, 'eos token id');
  assert.equal(golden.cases.length, params.num_prompts ?? golden.cases.length, 'number of prompts');

  const failures = [];
  for (const [i, c] of golden.cases.entries()) {
    const e = tok.encode(c.prompt);
    const label = `prompt ${i} ${JSON.stringify(c.prompt).slice(0, 60)}`;
    const diffs = [];
    if (!sameArray(e.ids, c.input_ids)) diffs.push(`input_ids ${fmt(e.ids)} != ${fmt(c.input_ids)}`);
    if (!sameArray(e.attentionMask, c.attention_mask)) diffs.push(`attention_mask ${fmt(e.attentionMask)} != ${fmt(c.attention_mask)}`);
    if (!sameArray(e.tokens, c.tokens)) diffs.push(`tokens ${JSON.stringify(e.tokens)} != ${JSON.stringify(c.tokens)}`);
    if (e.numTokensUntruncated !== c.num_tokens_untruncated) diffs.push(`num_tokens_untruncated ${e.numTokensUntruncated} != ${c.num_tokens_untruncated}`);
    if (e.truncated !== c.truncated) diffs.push(`truncated ${e.truncated} != ${c.truncated}`);
    if (diffs.length) failures.push(`${label}:\n    ${diffs.join('\n    ')}`);
  }
  assert.equal(failures.length, 0, `${failures.length} of ${golden.cases.length} prompts differ:\n  ${failures.join('\n  ')}`);

  const truncatedPrompts = golden.cases.filter((c) => c.truncated).map((c) => c.prompt);
  assert.deepEqual(warnings.map((w) => w.prompt), truncatedPrompts, 'one truncation warning per truncated prompt');
  ctx.t.diagnostic(`${golden.cases.length} prompts match exactly (${truncatedPrompts.length} truncated)`);
}

function sameArray(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function fmt(a) {
  return `[${Array.from(a).join(',')}]`;
}
