// The CLIP tokenizer of Stable Diffusion: Hugging Face's slow CLIPTokenizer (without ftfy), called
// as the pipelines call it: tokenizer(prompt, padding="max_length", max_length=model_max_length,
// truncation=True). The steps are those of test/fixtures/README.md, section "tokenizer":
// split out the added tokens, clean (clean.ts), pre-tokenise (pretokenize.ts), byte-level BPE
// (byte-unicode.ts, bpe.ts), ids from vocab.json, keep the first max_length - 2, add bos/eos, pad.
import { IndetailError } from '../errors.js';
import { bytePairEncode, END_OF_WORD, mergeRanks, type MergeRanks } from './bpe.js';
import { bytesToUnicode, unicodeToText } from './byte-unicode.js';
import { cleanText } from './clean.js';
import { pretokenize } from './pretokenize.js';
import { splitOnAddedTokens, type AddedToken, type TokenSpec } from './special-tokens.js';
import { readTokenizerFiles, type TokenizerFiles } from './tokenizer-files.js';
import { WordCache, type WordCacheStats } from './word-cache.js';

/** Something the tokenizer tells its caller without failing: a prompt cut to the model's length. */
export interface TokenizerWarning {
  code: 'PROMPT_TRUNCATED';
  message: string;
  prompt: string;
  /** Tokens of the whole prompt, bos and eos included. */
  numTokens: number;
  maxLength: number;
  /** The text of the tokens that were cut off. */
  droppedText: string;
}

export type WarningHandler = (warning: TokenizerWarning) => void;

export interface CLIPTokenizerOptions {
  /** Sequence length to pad/truncate to; default: model_max_length of tokenizer_config.json. */
  modelMaxLength?: number;
  /** Most distinct words whose BPE result is kept (default 65536; 0 turns the cache off). */
  cacheCapacity?: number;
  /** Called for every warning of an encode that does not pass its own handler. */
  onWarning?: WarningHandler;
}

export interface EncodeOptions {
  /** Called with the warning when this prompt is truncated (instead of the tokenizer's handler). */
  onWarning?: WarningHandler;
}

/** One prompt, encoded as Stable Diffusion's text encoder takes it. */
export interface Encoding {
  /** [modelMaxLength] ids: bos, the first modelMaxLength - 2 token ids, eos, then the pad id. */
  ids: Int32Array;
  /** [modelMaxLength]: 1 for bos, tokens and eos, 0 for padding. */
  attentionMask: Int32Array;
  /**
   * The BPE tokens of the prompt, without bos/eos and not truncated to modelMaxLength; a prompt
   * longer than MAX_COUNTED_TOKENS tokens is tokenised only that far (the rest cannot matter).
   */
  tokens: string[];
  /** Token count of the prompt with bos and eos (of its first MAX_COUNTED_TOKENS tokens at most, see tokens). */
  numTokensUntruncated: number;
  /** Whether tokens were cut off (numTokensUntruncated > modelMaxLength). */
  truncated: boolean;
}

/** Several prompts, encoded into row-major [batchSize, maxLength] arrays. */
export interface BatchEncoding {
  ids: Int32Array;
  attentionMask: Int32Array;
  shape: [batchSize: number, maxLength: number];
  items: Encoding[];
}

export interface TokenizerCacheStats extends WordCacheStats {}

interface WordEntry {
  tokens: string[];
  ids: number[];
}

/**
 * How far encode() tokenises a prompt: enough to report what a truncation drops, bounded so that
 * a megabyte prompt costs no more than this many tokens (and words are cut to what this many
 * tokens can span before BPE, whose cost grows with the square of a word's length).
 */
export const MAX_COUNTED_TOKENS = 256;

// CLIPTokenizer.bpe starts its cache with these two strings mapped to themselves, so the regex
// matches them whole and they keep their ids even where they were not split out as added tokens.
const SELF_ENCODED = new Set(['<|startoftext|>', '<|endoftext|>']);

const SPACE = /[ \t\n\r]/;
// A character cleaning keeps as (part of) a word: chunks without one are skipped without cleaning.
const WORD_CHAR = /[^\t\n\r\p{Zs}\p{C}\uFFFD]/u;

/**
 * The text in pieces of about `size` characters cut at spaces, tabs or newlines (which cleaning
 * turns into word breaks), so a long prompt is cleaned and split only as far as tokens are wanted.
 * A run of 4 × size characters without such a break is cut anyway: the word it holds is longer
 * than any number of tokens encode() keeps can span.
 */
function* chunksAtSpaces(text: string, size = 16384): Generator<string> {
  let pos = 0;
  while (text.length - pos > size) {
    const at = text.slice(pos + size, pos + 4 * size).search(SPACE);
    const end = at >= 0 ? pos + size + at : pos + 4 * size;
    if (end >= text.length) break;
    yield text.slice(pos, end);
    pos = at >= 0 ? end + 1 : end;
  }
  if (pos < text.length) yield pos === 0 ? text : text.slice(pos);
}

// One rank table per parsed folder (readTokenizerFiles reuses unchanged folders).
const ranksByFiles = new WeakMap<TokenizerFiles, MergeRanks>();
function ranksOf(files: TokenizerFiles): MergeRanks {
  let r = ranksByFiles.get(files);
  if (!r) ranksByFiles.set(files, (r = mergeRanks(files.merges)));
  return r;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}

function invalid(message: string): IndetailError {
  return new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', message);
}

export class CLIPTokenizer {
  /** The folder the tokenizer was loaded from. */
  readonly dir: string;
  /** Length every encoding is padded or truncated to. */
  readonly modelMaxLength: number;
  readonly bosToken: string;
  readonly eosToken: string;
  readonly padToken: string;
  readonly bosTokenId: number;
  readonly eosTokenId: number;
  readonly padTokenId: number;
  /** Tokens matched literally in prompts (bos, eos, unk, pad and any added tokens). */
  readonly addedTokens: readonly AddedToken[];

  private readonly vocab: ReadonlyMap<string, number>;
  private idToToken: Map<number, string> | undefined; // built by the first decode
  private readonly ranks: MergeRanks;
  private readonly addedById: Map<string, number>;
  private readonly unkTokenId: number | undefined;
  private readonly cache: WordCache<WordEntry>;
  private readonly onWarning: WarningHandler | undefined;
  /** Longest vocabulary token, in byte-level characters: a word of n characters has at least n / this tokens. */
  private readonly maxTokenChars: number;

  private constructor(files: TokenizerFiles, options: CLIPTokenizerOptions) {
    this.dir = files.dir;
    this.vocab = files.vocab;
    let longest = 1;
    for (const token of files.vocab.keys()) longest = Math.max(longest, token.length);
    this.maxTokenChars = longest;
    this.ranks = ranksOf(files);
    this.onWarning = options.onWarning;

    const maxLength = options.modelMaxLength ?? files.modelMaxLength;
    if (maxLength === undefined) {
      throw new IndetailError(
        'ERR_INDETAIL_BAD_FILE',
        `CLIP tokenizer: ${files.dir}/tokenizer_config.json has no model_max_length; pass options.modelMaxLength`,
      );
    }
    this.modelMaxLength = maxLength;

    // Ids as PreTrainedTokenizer._add_tokens gives them: added_tokens_decoder first, then vocab.json.
    const addedIds = new Map(files.addedTokens.map((t) => [t.content, t.id]));
    const idOf = (key: string, spec: TokenSpec): number => {
      const id = addedIds.get(spec.content) ?? files.vocab.get(spec.content);
      if (id === undefined) {
        throw new IndetailError(
          'ERR_INDETAIL_BAD_FILE',
          `CLIP tokenizer: ${key} ${JSON.stringify(spec.content)} (from ${files.sources[key] ?? 'the config'}) is not in ${files.dir}/vocab.json`,
        );
      }
      return id;
    };
    const required = (key: 'bos_token' | 'eos_token' | 'pad_token', spec: TokenSpec | null): TokenSpec => {
      if (spec === null) {
        throw new IndetailError('ERR_INDETAIL_BAD_FILE', `CLIP tokenizer: ${files.sources[key]} sets ${key} to null; encoding needs one`);
      }
      return spec;
    };
    const bos = required('bos_token', files.bosToken);
    const eos = required('eos_token', files.eosToken);
    const pad = required('pad_token', files.padToken);
    this.bosToken = bos.content;
    this.eosToken = eos.content;
    this.padToken = pad.content;
    this.bosTokenId = idOf('bos_token', bos);
    this.eosTokenId = idOf('eos_token', eos);
    this.padTokenId = idOf('pad_token', pad);
    this.unkTokenId = files.unkToken ? idOf('unk_token', files.unkToken) : undefined;

    const added = new Map<string, AddedToken>();
    for (const t of files.addedTokens) added.set(t.content, { content: t.content, id: t.id, lstrip: t.lstrip, rstrip: t.rstrip });
    const specials: Array<[string, TokenSpec | null]> = [
      ['bos_token', bos],
      ['eos_token', eos],
      ['unk_token', files.unkToken],
      ['pad_token', pad],
      ...files.additionalSpecialTokens.map((t): [string, TokenSpec] => ['additional_special_tokens', t]),
    ];
    for (const [key, spec] of specials) {
      if (spec && spec.content.length > 0 && !added.has(spec.content)) {
        added.set(spec.content, { content: spec.content, id: idOf(key, spec), lstrip: spec.lstrip, rstrip: spec.rstrip });
      }
    }
    this.addedTokens = [...added.values()].filter((t) => t.content.length > 0);
    this.addedById = new Map(this.addedTokens.map((t) => [t.content, t.id]));

    const capacity = options.cacheCapacity ?? 65536;
    if (!Number.isInteger(capacity) || capacity < 0) {
      throw invalid(`Expected a non-negative integer for cacheCapacity but received ${String(capacity)}`);
    }
    this.cache = new WordCache(capacity);
  }

  /**
   * Loads the tokenizer of a model: `dir` is its `tokenizer/` folder (vocab.json, merges.txt,
   * tokenizer_config.json, special_tokens_map.json) or a diffusers model folder that contains one.
   * Fails with an IndetailError naming the file that is missing (ERR_INDETAIL_IO) or corrupt
   * (ERR_INDETAIL_BAD_FILE).
   */
  static async fromFolder(dir: string, options: CLIPTokenizerOptions = {}): Promise<CLIPTokenizer> {
    if (typeof dir !== 'string' || dir.length === 0) {
      throw invalid(`Expected a folder path for dir but received ${typeof dir === 'string' ? "''" : describe(dir)}`);
    }
    if (options === null || typeof options !== 'object') {
      throw invalid(`Expected an object for options but received ${describe(options)}`);
    }
    if (options.modelMaxLength !== undefined && (!Number.isInteger(options.modelMaxLength) || options.modelMaxLength < 2)) {
      throw invalid(`Expected an integer >= 2 for modelMaxLength but received ${String(options.modelMaxLength)}`);
    }
    if (options.onWarning !== undefined && typeof options.onWarning !== 'function') {
      throw invalid(`Expected a function for onWarning but received ${describe(options.onWarning)}`);
    }
    return new CLIPTokenizer(await readTokenizerFiles(dir), options);
  }

  /** Number of entries in vocab.json. */
  get vocabSize(): number {
    return this.vocab.size;
  }

  /** The BPE tokens of a prompt, without bos/eos and without truncation. */
  tokenize(prompt: string): string[] {
    return this.tokenizeToIds(this.checkPrompt(prompt, 'prompt')).tokens;
  }

  /** Encodes one prompt to modelMaxLength ids, truncating (with a warning) and padding. */
  encode(prompt: string, options: EncodeOptions = {}): Encoding {
    return this.encodeChecked(this.checkPrompt(prompt, 'prompt'), options);
  }

  /** Encodes several prompts into [prompts.length, modelMaxLength] arrays. */
  encodeBatch(prompts: readonly string[], options: EncodeOptions = {}): BatchEncoding {
    if (!Array.isArray(prompts)) throw invalid(`Expected an array of strings for prompts but received ${describe(prompts)}`);
    prompts.forEach((p, i) => this.checkPrompt(p, `prompts[${i}]`));
    const L = this.modelMaxLength;
    const ids = new Int32Array(prompts.length * L);
    const attentionMask = new Int32Array(prompts.length * L);
    const items = prompts.map((p, i) => {
      const e = this.encodeChecked(p, options);
      ids.set(e.ids, i * L);
      attentionMask.set(e.attentionMask, i * L);
      return e;
    });
    return { ids, attentionMask, shape: [prompts.length, L], items };
  }

  /**
   * Text of token ids, as CLIPTokenizer.decode writes it: bytes back to UTF-8, `</w>` as a space,
   * trimmed. Added tokens (bos, eos, pad, ...) are left out.
   */
  decode(ids: ArrayLike<number>): string {
    if (!this.idToToken) {
      this.idToToken = new Map();
      for (const [token, id] of this.vocab) this.idToToken.set(id, token);
      for (const t of this.addedTokens) this.idToToken.set(t.id, t.content);
    }
    let symbols = '';
    for (let i = 0; i < ids.length; i++) {
      const t = this.idToToken.get(ids[i]!);
      if (t === undefined) throw invalid(`Expected token ids of this vocabulary but ids[${i}] is ${ids[i]}`);
      if (!this.addedById.has(t)) symbols += t;
    }
    return unicodeToText(symbols).split(END_OF_WORD).join(' ').trim();
  }

  /** Hits, misses and size of the per-word BPE cache. */
  cacheStats(): TokenizerCacheStats {
    return this.cache.stats();
  }

  /** Empties the per-word BPE cache and resets its counters. */
  clearCache(): void {
    this.cache.clear();
  }

  private checkPrompt(prompt: unknown, name: string): string {
    if (typeof prompt !== 'string') throw invalid(`Expected a string for ${name} but received ${describe(prompt)}`);
    return prompt;
  }

  private encodeChecked(prompt: string, options: EncodeOptions): Encoding {
    const L = this.modelMaxLength;
    const { tokens, ids: tokenIds } = this.tokenizeToIds(prompt, Math.max(L - 1, MAX_COUNTED_TOKENS));
    const keep = Math.min(tokenIds.length, L - 2);
    const ids = new Int32Array(L).fill(this.padTokenId);
    const attentionMask = new Int32Array(L);
    ids[0] = this.bosTokenId;
    for (let i = 0; i < keep; i++) ids[i + 1] = tokenIds[i]!;
    ids[keep + 1] = this.eosTokenId;
    attentionMask.fill(1, 0, keep + 2);
    const numTokensUntruncated = tokenIds.length + 2;
    const truncated = numTokensUntruncated > L;
    if (truncated) {
      const handler = options.onWarning ?? this.onWarning;
      if (handler) {
        const droppedText = this.decode(tokenIds.slice(keep));
        handler({
          code: 'PROMPT_TRUNCATED',
          message: `prompt truncated to ${L} tokens (it has ${numTokensUntruncated >= MAX_COUNTED_TOKENS ? `more than ${MAX_COUNTED_TOKENS}` : numTokensUntruncated}); dropped: ${JSON.stringify(droppedText.length > 200 ? `${droppedText.slice(0, 200)}…` : droppedText)}`,
          prompt,
          numTokens: numTokensUntruncated,
          maxLength: L,
          droppedText,
        });
      }
    }
    return { ids, attentionMask, tokens, numTokensUntruncated, truncated };
  }

  /** The tokens of `prompt`; with a limit, the first `limit` at least (the last word is kept whole) and not many more. */
  private tokenizeToIds(prompt: string, limit = Infinity): WordEntry {
    const tokens: string[] = [];
    const ids: number[] = [];
    for (const piece of splitOnAddedTokens(prompt, this.addedTokens)) {
      if (ids.length >= limit) break;
      if (piece.token) {
        tokens.push(piece.token.content);
        ids.push(piece.token.id);
        continue;
      }
      for (const chunk of chunksAtSpaces(piece.text)) {
        if (ids.length >= limit) break;
        if (WORD_CHAR.test(chunk)) this.appendWords(cleanText(chunk), limit, tokens, ids);
      }
    }
    if (tokens.length > limit) {
      tokens.length = limit;
      ids.length = limit;
    }
    return { tokens, ids };
  }

  /** The BPE tokens of cleaned text's words, appended until `limit`. */
  private appendWords(cleaned: string, limit: number, tokens: string[], ids: number[]): void {
    for (const word of pretokenize(cleaned)) {
      if (ids.length >= limit) break;
      // A word longer than the tokens still wanted can span is cut first (a few tokens' margin:
      // BPE merges only change the cut's neighbourhood).
      const span = (limit - ids.length + 8) * this.maxTokenChars;
      const cut = word.length > span && /[\uD800-\uDBFF]/.test(word[span - 1]!) ? span - 1 : span;
      const entry = this.encodeWord(word.length > span ? word.slice(0, cut) : word);
      for (let i = 0; i < entry.tokens.length; i++) {
        tokens.push(entry.tokens[i]!);
        ids.push(entry.ids[i]!);
      }
    }
  }

  private encodeWord(word: string): WordEntry {
    const cached = this.cache.get(word);
    if (cached) return cached;
    const tokens = SELF_ENCODED.has(word) ? [word] : bytePairEncode(bytesToUnicode(word), this.ranks);
    const entry = { tokens, ids: tokens.map((t) => this.tokenId(t)) };
    this.cache.set(word, entry);
    return entry;
  }

  // _convert_token_to_id_with_added_voc: added tokens first, then vocab.json, then unk.
  private tokenId(token: string): number {
    const id = this.addedById.get(token) ?? this.vocab.get(token) ?? this.unkTokenId;
    if (id === undefined) {
      throw new IndetailError('ERR_INDETAIL_BAD_FILE', `CLIP tokenizer: BPE token ${JSON.stringify(token)} is not in ${this.dir}/vocab.json and there is no unk_token`);
    }
    return id;
  }
}
