// Runs the indetail CLI (dist/cli/main.js) in a child process on the CPU backend.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from './fixtures.mjs';

export const cliPath = path.join(repoRoot, 'dist', 'cli', 'main.js');

/** Resolves with { status, stdout, stderr }; onSpawn(child) may signal it while it runs. */
export function runCli(args, { onSpawn } = {}) {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [cliPath, ...args], { env: { ...process.env, INDETAIL_DISABLE_CUDA: '1' } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (status) => resolve({ status, stdout, stderr }));
    onSpawn?.(p);
  });
}

/** `indetail ...args`: the same as runCli(args). */
export const run = (...args) => runCli(args);
