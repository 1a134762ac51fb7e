// Runs the indetail CLI (dist/cli/main.js) in a child process on the CPU and collects its output.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from './fixtures.mjs';

export const cli = path.join(repoRoot, 'dist', 'cli', 'main.js');

/** Resolves to { status, stdout, stderr } of `indetail ...args`. */
export function runCli(...args) {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [cli, ...args], { env: { ...process.env, INDETAIL_DISABLE_CUDA: '1' } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}
