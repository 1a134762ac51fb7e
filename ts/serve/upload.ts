// Reading POST /v1/jobs: a multipart body with the file "image", the optional file "control" and
// the field "parameters" (JSON). Images are decoded once here with the library's reader, so that
// a corrupt, unsupported or oversize picture is refused before anything is queued.
import type { FastifyRequest } from 'fastify';
import { IndetailError } from '../errors.js';
import { readImage } from '../image/index.js';
import { HttpError } from './http-error.js';

export interface Upload {
  parameters: unknown;
  image: Buffer;
  control?: Buffer;
}

export interface ImageLimits {
  /** Largest width or height of an uploaded image. */
  maxSide: number;
  /** Largest width × height of an uploaded image. */
  maxPixels: number;
}

const FILES = new Set(['image', 'control']);

function bad(code: string, message: string): HttpError {
  return new HttpError(400, code, message);
}

/** The multipart plugin's own errors carry a status (413 for limits); the parser's (a truncated body) do not. */
function clientError(err: unknown): unknown {
  return err instanceof HttpError || typeof (err as { statusCode?: unknown })?.statusCode === 'number' ? err : bad('BAD_MULTIPART', `malformed multipart body: ${(err as Error)?.message ?? String(err)}`);
}

async function parts(request: FastifyRequest): Promise<{ files: Map<string, Buffer>; parameters?: string }> {
  const files = new Map<string, Buffer>();
  let parameters: string | undefined;
  let first: unknown;
  try {
    for await (const part of request.parts()) {
      // After an error keep reading, so that the client gets the answer instead of a reset.
      if (part.type === 'file') {
        if (first || !FILES.has(part.fieldname) || files.has(part.fieldname)) {
          first ??= files.has(part.fieldname)
            ? bad('BAD_MULTIPART', `the file field "${part.fieldname}" appears twice`)
            : bad('BAD_MULTIPART', `unknown file field "${part.fieldname}"; expected "image" and, for structure-guided jobs, "control"`);
          part.file.resume();
          continue;
        }
        try {
          files.set(part.fieldname, await part.toBuffer());
        } catch (err) {
          first ??= clientError(err);
        }
      } else if (!first) {
        if (part.fieldname !== 'parameters') first = bad('BAD_MULTIPART', `unknown field "${part.fieldname}"; expected the JSON field "parameters"`);
        else if (parameters !== undefined) first = bad('BAD_MULTIPART', 'the field "parameters" appears twice');
        else parameters = String(part.value);
      }
    }
  } catch (err) {
    first ??= clientError(err);
  }
  if (first) throw first;
  return { files, ...(parameters !== undefined ? { parameters } : {}) };
}

async function checkImage(field: string, bytes: Buffer, limits: ImageLimits): Promise<void> {
  try {
    await readImage(bytes, { ...limits, name: `"${field}"` });
  } catch (err) {
    if (err instanceof IndetailError && err.code === 'ERR_INDETAIL_INVALID_ARGUMENT') throw new HttpError(413, 'IMAGE_TOO_LARGE', err.message);
    throw err;
  }
}

export async function readUpload(request: FastifyRequest, limits: ImageLimits): Promise<Upload> {
  if (!request.isMultipart()) {
    throw new HttpError(415, 'NOT_MULTIPART', 'Expected a multipart/form-data body with the file "image" and the JSON field "parameters"');
  }
  const { files, parameters } = await parts(request);
  const image = files.get('image');
  if (!image) throw bad('MISSING_IMAGE', 'the file field "image" (the image prompt) is missing');
  if (parameters === undefined) throw bad('MISSING_PARAMETERS', 'the field "parameters" (JSON, e.g. {"task": "variation", "prompt": "a cat"}) is missing');
  let parsed: unknown;
  try {
    parsed = JSON.parse(parameters);
  } catch (err) {
    throw bad('BAD_PARAMETERS', `the field "parameters" is not valid JSON: ${(err as Error).message}`);
  }
  await checkImage('image', image, limits);
  const control = files.get('control');
  if (control) await checkImage('control', control, limits);
  return { parameters: parsed, image, ...(control ? { control } : {}) };
}
