// Bearer tokens of the HTTP API, from a file (one token per line, optionally "name:token"; '#'
// comments) or an environment variable (comma-separated, same syntax). Tokens are compared by
// their SHA-256, so lookups take the same time whatever the token; the name is what logs, rate
// limits and job ownership use.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { IndetailError } from '../errors.js';

const MIN_TOKEN_LENGTH = 16;

function digest(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export class Tokens {
  private readonly byDigest = new Map<string, string>();

  /** Entries "token" or "name:token"; blank entries and '#' comments are skipped. */
  constructor(entries: Iterable<string>, source: string) {
    for (const raw of entries) {
      const entry = raw.trim();
      if (entry === '' || entry.startsWith('#')) continue;
      const colon = entry.indexOf(':');
      const token = colon >= 0 ? entry.slice(colon + 1).trim() : entry;
      const name = colon >= 0 ? entry.slice(0, colon).trim() : `token-${digest(token).slice(0, 8)}`;
      if (token.length < MIN_TOKEN_LENGTH || /\s/.test(token)) {
        throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `${source}: a token must be at least ${MIN_TOKEN_LENGTH} characters without spaces (token of ${JSON.stringify(name)})`);
      }
      if (!/^[A-Za-z0-9._@-]{1,64}$/.test(name)) {
        throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `${source}: a token name must be 1 to 64 letters, digits, '.', '_', '@' or '-' but received ${JSON.stringify(name)}`);
      }
      this.byDigest.set(digest(token), name);
    }
    if (this.byDigest.size === 0) throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `${source} holds no token`);
  }

  static async fromFile(file: string): Promise<Tokens> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new IndetailError('ERR_INDETAIL_IO', `cannot read the tokens file ${file}: ${(err as Error).message}`, { cause: err });
    }
    return new Tokens(text.split('\n'), `the tokens file ${file}`);
  }

  static fromEnv(value: string, variable: string): Tokens {
    return new Tokens(value.split(','), `the environment variable ${variable}`);
  }

  get size(): number {
    return this.byDigest.size;
  }

  /** The token's name for an Authorization header value, or undefined. */
  check(header: string | undefined): string | undefined {
    const m = /^Bearer ([^\s]+)$/i.exec(header?.trim() ?? '');
    return m ? this.byDigest.get(digest(m[1]!)) : undefined;
  }
}
