// Real serving components for the serving tests and the serve-load benchmark: a redis-server of
// our own (free 127.0.0.1 port, given directory, AOF fsynced on every write so that a restart
// loses nothing), `indetail worker` / `indetail serve` processes on the tiny model, and a small
// HTTP client of the API.
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const cli = path.join(root, 'dist', 'cli', 'main.js');
export const tinyModel = path.join(root, 'test', 'fixtures', 'tiny-sd15');
export const tinyControlNet = path.join(root, 'test', 'fixtures', 'tiny-sd15-controlnet');
export const inputImage = path.join(root, 'test', 'fixtures', 'golden', 'input_image.png');
export const controlImage = path.join(root, 'test', 'fixtures', 'golden', 'control_image.png');
export const TOKEN = 'test-token-0123456789abcdef';
export const OTHER_TOKEN = 'other-token-0123456789abcdef';
export const TOKENS = `alice:${TOKEN},bob:${OTHER_TOKEN}`;

function findRedisServer() {
  for (const dir of [...(process.env.PATH ?? '').split(path.delimiter), '/usr/bin', '/usr/sbin', '/usr/local/bin']) {
    const file = path.join(dir, 'redis-server');
    if (dir && existsSync(file)) return file;
  }
  return undefined;
}

export const redisServer = findRedisServer();

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function waitFor(what, fn, timeoutMs = 30_000, everyMs = 50) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await sleep(everyMs);
  }
}

/** A redis-server on a free local port; restart() kills it with SIGKILL and starts it again on the same port and data. */
export async function startRedis(dir) {
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--daemonize', 'no', '--maxmemory-policy', 'noeviction', '--logfile', path.join(dir, 'redis.log')];
  let proc;
  const redisCli = path.join(path.dirname(redisServer), 'redis-cli');
  const ping = () => spawnSync(redisCli, ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout?.trim() === 'PONG';
  const hasCli = existsSync(redisCli);
  const start = async () => {
    proc = spawn(redisServer, args, { stdio: 'ignore' });
    const exited = new Promise((r) => proc.once('exit', r));
    proc.exited = exited;
    await waitFor(`redis-server on port ${port}`, async () => {
      if (proc.exitCode !== null) throw new Error(`redis-server exited: ${readFileSync(path.join(dir, 'redis.log'), 'utf8').slice(-500)}`);
      return hasCli ? ping() : readFileSync(path.join(dir, 'redis.log'), 'utf8').includes('Ready to accept connections');
    }, 15_000);
  };
  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    async restart(downMs = 300) {
      proc.kill('SIGKILL');
      await proc.exited;
      await sleep(downMs);
      await start();
    },
    async stop() {
      if (proc.exitCode === null) {
        proc.kill('SIGTERM');
        await proc.exited;
      }
    },
  };
}

/** Spawns `indetail <args>` with its JSON log in `logFile`; resolves once a log line matches `ready`. */
export async function spawnIndetail(args, { logFile, ready, env = {}, timeoutMs = 60_000 }) {
  const proc = spawn(process.execPath, [cli, ...args], { env: { ...process.env, INDETAIL_DISABLE_CUDA: '1', INDETAIL_THREADS: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = createWriteStream(logFile);
  let text = '';
  const lines = [];
  const collect = (d) => {
    out.write(d);
    text += d;
    let i;
    while ((i = text.indexOf('\n')) >= 0) {
      lines.push(text.slice(0, i));
      text = text.slice(i + 1);
    }
  };
  proc.stdout.on('data', collect);
  proc.stderr.on('data', collect);
  const exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  const parsed = () => lines.map((l) => {
    try {
      return JSON.parse(l);
    } catch {
      return { msg: l };
    }
  });
  const first = await waitFor(`${args[0]} to be ready (${logFile})`, () => {
    if (proc.exitCode !== null) throw new Error(`indetail ${args[0]} exited with ${proc.exitCode}: ${lines.slice(-5).join('\n')}`);
    return parsed().find(ready);
  }, timeoutMs);
  return { proc, pid: proc.pid, exited, first, logs: parsed };
}

export function startWorker({ redis, store, id, dir, extra = [], env }) {
  const args = ['worker', '--redis', redis, '--store', store, '--model', tinyModel, '--controlnet', tinyControlNet, '--backend', 'cpu', '--id', id, ...extra];
  return spawnIndetail(args, { logFile: path.join(dir, `${id}.log`), ready: (l) => l.msg === 'worker ready', ...(env ? { env } : {}) });
}

export async function startServe({ redis, store, dir, extra = [] }) {
  const s = await spawnIndetail(['serve', '--redis', redis, '--store', store, '--port', '0', ...extra], { logFile: path.join(dir, 'serve.log'), ready: (l) => l.msg === 'indetail serve listening', env: { INDETAIL_TOKENS: TOKENS } });
  return { ...s, url: s.first.url };
}

/** A minimal client of the HTTP API. */
export function client(base, token = TOKEN) {
  const auth = token ? { authorization: `Bearer ${token}` } : {};
  return {
    async submit(parameters, { image = readFileSync(inputImage), control, key, headers = {} } = {}) {
      const form = new FormData();
      if (image) form.append('image', new Blob([image], { type: 'image/png' }), 'image.png');
      if (control) form.append('control', new Blob([control], { type: 'image/png' }), 'control.png');
      if (parameters !== undefined) form.append('parameters', typeof parameters === 'string' ? parameters : JSON.stringify(parameters));
      const res = await fetch(`${base}/v1/jobs`, { method: 'POST', body: form, headers: { ...auth, ...(key ? { 'idempotency-key': key } : {}), ...headers } });
      return { status: res.status, body: await res.json() };
    },
    async get(p) {
      const res = await fetch(`${base}${p}`, { headers: auth });
      const type = res.headers.get('content-type') ?? '';
      return { status: res.status, type, body: type.includes('json') ? await res.json() : Buffer.from(await res.arrayBuffer()) };
    },
    async del(p) {
      const res = await fetch(`${base}${p}`, { method: 'DELETE', headers: auth });
      return { status: res.status, body: await res.json() };
    },
    async status(id) {
      return (await this.get(`/v1/jobs/${id}`)).body;
    },
    async waitState(id, states, timeoutMs = 60_000) {
      return waitFor(`job ${id} to be ${states.join('/')}`, async () => {
        const s = await this.status(id);
        return states.includes(s.state) ? s : undefined;
      }, timeoutMs, 100);
    },
  };
}

/** Removes a test's directory (logs included) unless INDETAIL_KEEP_TEST_DIRS is set. */
