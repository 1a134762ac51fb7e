// The prompts of an evaluation: a JSON or CSV manifest in a folder of pictures.
//
// JSON: [{ "id": "cat", "task": "variation", "image": "cat.png", "text": "a photograph of a cat" }, ...]
//   or { "prompts": [...] }. CSV: a header row naming the columns id, task, image, text, condition
//   (any order; id, task and condition optional), one prompt per row, RFC 4180 quoting.
// Fields: image (the image prompt, relative to the manifest's folder), text (the text prompt,
// without the quality suffix: it is also what CLIP-T compares with), task ('variation' default,
// 'cross', 'structure'), condition (the ControlNet control image; structure only), id (names the
// output folders; default prompt-<row>).
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { IndetailError } from '../errors.js';
import type { Task } from '../pipeline/defaults.js';

export interface EvalPrompt {
  id: string;
  task: Task;
  /** Absolute path of the image prompt. */
  image: string;
  text: string;
  /** Absolute path of the control image (structure-guided prompts). */
  condition?: string;
}

const TASKS: readonly Task[] = ['variation', 'cross', 'structure'];
export const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

function bad(file: string, message: string): never {
  throw new IndetailError('ERR_INDETAIL_BAD_FILE', `${file}: ${message}`);
}

/** RFC 4180 CSV: rows of fields (quoted fields may hold commas, quotes as "" and newlines). */
export function parseCsv(text: string, file: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  let i = 0;
  const endField = () => {
    row.push(field);
    field = '';
  };
  const endRow = () => {
    endField();
    if (row.length > 1 || row[0] !== '') rows.push(row);
    row = [];
  };
  const s = text.replace(/^\uFEFF/, '');
  while (i < s.length) {
    const ch = s[i]!;
    if (quoted) {
      if (ch === '"' && s[i + 1] === '"') {
        field += '"';
        i += 2;
        continue;
      }
      if (ch === '"') quoted = false;
      else field += ch;
      i++;
      continue;
    }
    if (ch === '"' && field === '') quoted = true;
    else if (ch === ',') endField();
    else if (ch === '\n') endRow();
    else if (ch !== '\r') field += ch;
    i++;
  }
  if (quoted) bad(file, 'a quoted field is not closed');
  if (field !== '' || row.length > 0) endRow();
  return rows;
}

function csvRecords(text: string, file: string): Record<string, string>[] {
  const rows = parseCsv(text, file);
  if (rows.length === 0) bad(file, 'is empty');
  const header = rows[0]!.map((h) => h.trim().toLowerCase());
  const known = ['id', 'task', 'image', 'text', 'condition'];
  const unknown = header.find((h) => !known.includes(h));
  if (unknown !== undefined) bad(file, `unknown column '${unknown}' (columns: ${known.join(', ')})`);
  return rows.slice(1).map((r, n) => {
    if (r.length !== header.length) bad(file, `row ${n + 2} has ${r.length} fields, the header ${header.length}`);
    const rec: Record<string, string> = {};
    header.forEach((h, k) => {
      if (r[k] !== '') rec[h] = r[k]!;
    });
    return rec;
  });
}

function jsonRecords(text: string, file: string): unknown[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    bad(file, `is not valid JSON: ${(err as Error).message}`);
  }
  const list = Array.isArray(value) ? value : (value as { prompts?: unknown } | null)?.prompts;
  if (!Array.isArray(list)) bad(file, 'must hold an array of prompts, or { "prompts": [...] }');
  return list;
}

function checkPrompt(raw: unknown, n: number, dir: string, file: string): EvalPrompt {
  const where = `prompt ${n + 1}`;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) bad(file, `${where} must be an object`);
  const r = raw as Record<string, unknown>;
  const unknown = Object.keys(r).find((k) => !['id', 'task', 'image', 'text', 'condition'].includes(k));
  if (unknown !== undefined) bad(file, `${where} has an unknown field '${unknown}' (fields: id, task, image, text, condition)`);
  const id = r.id ?? `prompt-${n + 1}`;
  if (typeof id !== 'string' || !SAFE_NAME.test(id)) {
    bad(file, `${where}: id ${JSON.stringify(id)} must be 1 to 64 letters, digits, '.', '_' or '-' (it names output folders)`);
  }
  const task = r.task ?? 'variation';
  if (!TASKS.includes(task as Task)) bad(file, `${where} (${id}): task ${JSON.stringify(task)} is not one of ${TASKS.join(', ')}`);
  if (typeof r.text !== 'string') bad(file, `${where} (${id}): text must be a string`);
  const picture = (field: 'image' | 'condition'): string => {
    const v = r[field];
    if (typeof v !== 'string' || v.length === 0) bad(file, `${where} (${id}): ${field} must be a file name`);
    const p = path.resolve(dir, v);
    if (!existsSync(p)) bad(file, `${where} (${id}): ${field} ${v} not found (looked for ${p})`);
    return p;
  };
  if (task === 'structure' && r.condition === undefined) bad(file, `${where} (${id}): a structure prompt needs a condition (the control image)`);
  if (task !== 'structure' && r.condition !== undefined) bad(file, `${where} (${id}): condition is only used by structure prompts`);
  return {
    id,
    task: task as Task,
    image: picture('image'),
    text: r.text,
    ...(task === 'structure' ? { condition: picture('condition') } : {}),
  };
}

/** Reads and checks a prompt manifest (.json or .csv); picture paths are resolved against its folder. */
export async function readPromptManifest(file: string): Promise<EvalPrompt[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new IndetailError('ERR_INDETAIL_IO', `cannot read the prompt manifest ${file}: ${(err as Error).message}`, { cause: err });
  }
  const ext = path.extname(file).toLowerCase();
  if (ext !== '.json' && ext !== '.csv') {
    throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `Expected a .json or .csv prompt manifest but received ${file}`);
  }
  const records = ext === '.csv' ? csvRecords(text, file) : jsonRecords(text, file);
  if (records.length === 0) bad(file, 'holds no prompts');
  const prompts = records.map((r, n) => checkPrompt(r, n, path.dirname(path.resolve(file)), file));
  const seen = new Set<string>();
  for (const p of prompts) {
    if (seen.has(p.id)) bad(file, `id '${p.id}' is used twice`);
    seen.add(p.id);
  }
  return prompts;
}
