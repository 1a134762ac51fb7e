// The serving tests' setup: the real components of bench/lib/serve-stack.mjs, the reason to
// skip when redis-server is missing, and temporary directories.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { redisServer } from '../../bench/lib/serve-stack.mjs';

export * from '../../bench/lib/serve-stack.mjs';

/** Why the serving tests cannot run here, or undefined. */
export const skipReason = redisServer ? undefined : 'redis-server is not installed (apt-get install redis-server; .ci/run installs it when it can)';
if (skipReason) process.stdout.write(`# serving tests skipped: ${skipReason}\n`);

export function tempDir(prefix) {
  return mkdtempSync(path.join(tmpdir(), `indetail-${prefix}-`));
}

/** Removes a test's directory (logs included) unless INDETAIL_KEEP_TEST_DIRS is set. */
export function cleanup(dir) {
  if (!dir) return;
  if (process.env.INDETAIL_KEEP_TEST_DIRS) process.stdout.write(`# kept ${dir}\n`);
  else rmSync(dir, { recursive: true, force: true });
}
