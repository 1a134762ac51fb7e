// Reads a CLIP tokenizer folder (vocab.json, merges.txt, tokenizer_config.json,
// special_tokens_map.json) into validated plain data. Every error names the file and the problem.
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { IndetailError } from '../errors.js';
import { checkFolder, MAX_TOKENIZER_FILE_BYTES, pathExists, readRegularTextFile } from '../files/input-file.js';
import type { TokenSpec } from './special-tokens.js';

/** Everything a CLIPTokenizer is built from. */
export interface TokenizerFiles {
  /** The folder the files were read from. */
  dir: string;
  vocab: Map<string, number>;
  /** The merges in rank order, each as `${left} ${right}`. */
  merges: string[];
  /** null where the config sets the token to null (no such token). */
  bosToken: TokenSpec | null;
  eosToken: TokenSpec | null;
  unkToken: TokenSpec | null;
  padToken: TokenSpec | null;
  additionalSpecialTokens: TokenSpec[];
  /** tokenizer_config.json's added_tokens_decoder: tokens with explicit ids. */
  addedTokens: Array<TokenSpec & { id: number }>;
  /** model_max_length of tokenizer_config.json, if it has one. */
  modelMaxLength: number | undefined;
  /** Which file each special token came from, for error messages. */
  sources: Record<string, string>;
}

// HF reads `merges[1 : 49152 - 256 - 2 + 1]`: it skips the first line (the "#version" header) and
// keeps at most 48,894 merges, however many the file has.
const MAX_MERGES = 49152 - 256 - 2;

// CLIPTokenizer.__init__ defaults, used where neither config file names a token.
const DEFAULT_TOKENS: Record<string, string> = {
  bos_token: '<|startoftext|>',
  eos_token: '<|endoftext|>',
  unk_token: '<|endoftext|>',
  pad_token: '<|endoftext|>',
};

function badFile(file: string, problem: string): IndetailError {
  return new IndetailError('ERR_INDETAIL_BAD_FILE', `CLIP tokenizer: ${file} ${problem}`);
}

async function readText(file: string, required: boolean): Promise<string | undefined> {
  if (!required && !(await pathExists(file))) return undefined;
  try {
    return await readRegularTextFile('CLIP tokenizer file', file, { maxBytes: MAX_TOKENIZER_FILE_BYTES });
  } catch (err) {
    if ((err as IndetailError).code === 'ERR_INDETAIL_IO' && ((err as Error).cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
      throw new IndetailError('ERR_INDETAIL_IO', `CLIP tokenizer: ${file} is missing`, { cause: err });
    }
    throw err;
  }
}

async function readJsonObject(file: string, required: boolean): Promise<Record<string, unknown> | undefined> {
  const text = await readText(file, required);
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw badFile(file, `is not valid JSON: ${(err as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw badFile(file, 'must hold a JSON object');
  return value as Record<string, unknown>;
}

function parseVocab(file: string, json: Record<string, unknown>): Map<string, number> {
  const vocab = new Map<string, number>();
  for (const token in json) {
    const id = json[token];
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id > 0x7fffffff) {
      throw badFile(file, `maps ${JSON.stringify(token)} to ${JSON.stringify(id)}; ids must be non-negative integers`);
    }
    vocab.set(token, id);
  }
  if (vocab.size === 0) throw badFile(file, 'is empty');
  return vocab;
}

// Python's str.split() whitespace (see clean.ts); a merge line is two symbols split by it.
const PY_WS = '\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const PLAIN_MERGE = new RegExp(`^[^${PY_WS}]+ [^${PY_WS}]+$`, 'u');
const WS_RUN = new RegExp(`[${PY_WS}]+`, 'u');

function parseMerges(file: string, text: string): string[] {
  const lines = text.trim().split('\n').slice(1, 1 + MAX_MERGES);
  const merges: string[] = [];
  lines.forEach((line, i) => {
    if (PLAIN_MERGE.test(line)) {
      merges.push(line);
      return;
    }
    const parts = line.split(WS_RUN).filter((s) => s.length > 0);
    if (parts.length !== 2) {
      throw badFile(file, `line ${i + 2} is ${JSON.stringify(line)}; expected two symbols separated by a space`);
    }
    merges.push(`${parts[0]} ${parts[1]}`);
  });
  if (merges.length === 0) throw badFile(file, 'has no merges (expected a "#version" line, then one merge per line)');
  return merges;
}

function parseToken(file: string, key: string, value: unknown): TokenSpec | null {
  if (value === null) return null;
  if (typeof value === 'string') return { content: value, lstrip: false, rstrip: false };
  if (typeof value === 'object' && !Array.isArray(value) && typeof (value as { content?: unknown }).content === 'string') {
    const v = value as { content: string; lstrip?: unknown; rstrip?: unknown };
    return { content: v.content, lstrip: v.lstrip === true, rstrip: v.rstrip === true };
  }
  throw badFile(file, `has an invalid ${key}: expected a string or an object with a string "content", got ${JSON.stringify(value)}`);
}

/** The folder holding vocab.json: `dir` itself, or `dir/tokenizer` for a diffusers model folder. */
async function resolveFolder(dir: string): Promise<string> {
  const isDir = async (p: string) => (await stat(p).catch(() => undefined))?.isDirectory() ?? false;
  const isFile = async (p: string) => (await stat(p).catch(() => undefined))?.isFile() ?? false;
  if (!(await isDir(dir))) await checkFolder('CLIP tokenizer folder', dir);
  if (!(await isFile(path.join(dir, 'vocab.json'))) && (await isFile(path.join(dir, 'tokenizer', 'vocab.json')))) {
    return path.join(dir, 'tokenizer');
  }
  return dir;
}

// Parsed folders, reused while their files are unchanged (same size, mtime and inode): loading a
// model again would otherwise parse ~1.4 MB of JSON and text into ~100k objects again, garbage the
// JavaScript heap grows with over repeated load/dispose cycles.
const MAX_PARSED = 4;
const parsed = new Map<string, { signature: string; files: TokenizerFiles }>();
const FILES = ['vocab.json', 'merges.txt', 'tokenizer_config.json', 'special_tokens_map.json'];

async function signature(dir: string): Promise<string> {
  const parts = await Promise.all(
    FILES.map(async (f) => {
      const s = await stat(path.join(dir, f)).catch(() => undefined);
      return s ? `${s.ino}:${s.size}:${s.mtimeMs}` : '-';
    }),
  );
  return parts.join('|');
}

/** Reads and validates a tokenizer folder (or a diffusers model folder with a tokenizer/ inside). */
export async function readTokenizerFiles(folder: string): Promise<TokenizerFiles> {
  const dir = await resolveFolder(folder);
  const sig = await signature(dir);
  const hit = parsed.get(dir);
  if (hit && hit.signature === sig) return hit.files;
  const files = await parseTokenizerFolder(dir);
  parsed.delete(dir);
  parsed.set(dir, { signature: sig, files });
  if (parsed.size > MAX_PARSED) parsed.delete(parsed.keys().next().value!);
  return files;
}

async function parseTokenizerFolder(dir: string): Promise<TokenizerFiles> {
  const vocabFile = path.join(dir, 'vocab.json');
  const mergesFile = path.join(dir, 'merges.txt');
  const configFile = path.join(dir, 'tokenizer_config.json');
  const mapFile = path.join(dir, 'special_tokens_map.json');
  const vocabJson = await readJsonObject(vocabFile, true);
  const mergesText = await readText(mergesFile, true);
  const config = await readJsonObject(configFile, false);
  const map = await readJsonObject(mapFile, false);
  const vocab = parseVocab(vocabFile, vocabJson!);
  const merges = parseMerges(mergesFile, mergesText!);

  // from_pretrained: the config's values are the init arguments; special_tokens_map.json overrides
  // them unless the config has added_tokens_decoder (files saved by transformers >= 4.34).
  const settings = new Map<string, { value: unknown; file: string }>();
  for (const [key, value] of Object.entries(DEFAULT_TOKENS)) settings.set(key, { value, file: 'CLIPTokenizer defaults' });
  for (const [key, value] of Object.entries(config ?? {})) settings.set(key, { value, file: configFile });
  const hasAddedDecoder = config !== undefined && 'added_tokens_decoder' in config;
  if (!hasAddedDecoder) for (const [key, value] of Object.entries(map ?? {})) settings.set(key, { value, file: mapFile });

  const sources: Record<string, string> = {};
  const token = (key: string): TokenSpec | null => {
    const s = settings.get(key)!;
    sources[key] = s.file;
    return parseToken(s.file, key, s.value);
  };

  const additionalSpecialTokens: TokenSpec[] = [];
  const extra = settings.get('additional_special_tokens');
  if (extra !== undefined && extra.value !== null) {
    if (!Array.isArray(extra.value)) throw badFile(extra.file, 'has an invalid additional_special_tokens: expected a list');
    for (const v of extra.value) {
      const t = parseToken(extra.file, 'additional_special_tokens entry', v);
      if (t) additionalSpecialTokens.push(t);
    }
  }

  const addedTokens: Array<TokenSpec & { id: number }> = [];
  if (hasAddedDecoder) {
    const decoder = config!.added_tokens_decoder;
    if (decoder === null || typeof decoder !== 'object' || Array.isArray(decoder)) {
      throw badFile(configFile, 'has an invalid added_tokens_decoder: expected an object of id -> token');
    }
    for (const [idText, v] of Object.entries(decoder)) {
      const id = Number(idText);
      if (!Number.isInteger(id) || id < 0) throw badFile(configFile, `has an invalid added_tokens_decoder id ${JSON.stringify(idText)}`);
      const t = parseToken(configFile, `added_tokens_decoder[${idText}]`, v);
      if (t) addedTokens.push({ ...t, id });
    }
  }

  let modelMaxLength: number | undefined;
  const mml = settings.get('model_max_length');
  if (mml !== undefined && mml.value !== null) {
    const n = mml.value;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 2) {
      throw badFile(mml.file, `has an invalid model_max_length ${JSON.stringify(n)}: expected an integer >= 2`);
    }
    // transformers writes 1e30 ("no limit") for tokenizers without one: no usable padding length.
    if (n <= 1 << 20) modelMaxLength = n;
  }

  return {
    dir,
    vocab,
    merges,
    bosToken: token('bos_token'),
    eosToken: token('eos_token'),
    unkToken: token('unk_token'),
    padToken: token('pad_token'),
    additionalSpecialTokens,
    addedTokens,
    modelMaxLength,
    sources,
  };
}
