// Hostile corpus, lifecycle: an abort is honoured inside a step (the UNet, ControlNet and VAE poll
// it between their blocks and tiles) and the pipeline stays usable, bit for bit; SIGINT/SIGTERM
// stop the CLI promptly with only complete files; 20 load/dispose cycles return their memory.
// Every test has a time limit.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { IndetailPipeline } from '../dist/index.js';
import { cancelChecks } from '../dist/cancel.js';
import { repoRoot } from './helpers/fixtures.mjs';
import { inputImage, runCli, scratch, tinyModel } from './helpers/hostile.mjs';

const LIMIT = { timeout: 60_000 };
const s = scratch();
let pipe;
before(async () => {
  pipe = await IndetailPipeline.load({ model: tinyModel, controlnet: path.join(path.dirname(tinyModel), 'tiny-sd15-controlnet'), backend: 'cpu', kvCache: false });
});
after(() => {
  pipe?.dispose();
  s.remove();
});

const cancelled = (re) => (err) => err.code === 'ERR_INDETAIL_CANCELLED' && re.test(err.message);

async function inputs(frames, size) {
  const { engine } = pipe.parts;
  const h = size / 8;
  const sample = engine.tensor(Float32Array.from({ length: frames * h * h * 4 }, (_, i) => Math.sin(i)), [frames, h, h, 4]);
  const context = engine.tensor(Float32Array.from({ length: frames * 77 * 32 }, (_, i) => Math.cos(i) * 0.1), [frames, 77, 32]);
  return { sample, context };
}

test('the UNet, the ControlNet and the VAE poll the signal before every block (and every tile)', LIMIT, async () => {
  const { unet, vae, controlnet, engine } = pipe.parts;
  const { sample, context } = await inputs(1, 64);
  const levels = unet.config.block_out_channels.length;
  const polls = async (fn) => {
    const before = cancelChecks();
    await fn();
    return cancelChecks() - before;
  };
  const signal = new AbortController().signal;
  // Counted from the configs, independently of the engine: one poll per down block, the mid
  // block and each up block.
  assert.equal(await polls(() => unet.forward({ sample, timesteps: 1, context, signal })), levels + 1 + unet.config.up_block_types.length);
  assert.equal(await polls(() => unet.forward({ sample, timesteps: 1, context })), 0, 'no signal, no polling');
  const cond = engine.tensor(new Float32Array(64 * 64 * 3).fill(0.5), [1, 64, 64, 3]);
  assert.equal(await polls(() => controlnet.forward({ sample, timesteps: 1, context, cond, signal })), controlnet.config.block_out_channels.length + 1);
  const vaeLevels = vae.config.blockOutChannels.length;
  const latents = sample;
  assert.equal(await polls(() => vae.decode(latents, { signal, tiling: { mode: 'never' } })), 1 + vaeLevels, 'mid block + up blocks');
  // Tiled: the mid block once, then every tile and its up blocks; a 24x24 latent in tiles of 16
  // latent pixels overlapping by 8 is 2 x 2 tiles.
  const big = engine.tensor(new Float32Array(24 * 24 * 4).fill(0.1), [1, 24, 24, 4]);
  assert.equal(await polls(() => vae.decode(big, { signal, tiling: { mode: 'always', tileSize: 128, overlap: 64 } })), 1 + 4 * (1 + vaeLevels));
  const image = engine.tensor(new Float32Array(64 * 64 * 3).fill(0.2), [1, 64, 64, 3]);
  assert.equal(await polls(() => vae.encode(image, { signal, tiling: { mode: 'never' } })), vaeLevels + 1, 'down blocks + mid block');
});

test('an aborted forward stops at a block and leaves the models usable, bit for bit', LIMIT, async () => {
  const { unet, vae } = pipe.parts;
  const { sample, context } = await inputs(2, 64);
  const reference = await (await unet.forward({ sample, timesteps: [10, 20], context })).readFloat32();
  await assert.rejects(unet.forward({ sample, timesteps: [10, 20], context, signal: AbortSignal.abort() }), cancelled(/^cancelled in UNet down block 0$/));
  await assert.rejects(vae.decode(sample, { signal: AbortSignal.abort() }), cancelled(/^cancelled in VAE decoder mid block$/));
  // Aborted while running (a larger input so the forward is still going when the timer fires).
  const slow = await inputs(2, 512);
  const ac = new AbortController();
  const started = performance.now();
  const running = unet.forward({ sample: slow.sample, timesteps: [10, 20], context: slow.context, signal: ac.signal });
  setTimeout(() => ac.abort(), 50);
  await assert.rejects(running, cancelled(/^cancelled in UNet (down|mid|up) block/));
  const again = await (await unet.forward({ sample, timesteps: [10, 20], context })).readFloat32();
  assert.deepEqual(again, reference, 'same bits after the aborts');
  assert.ok(performance.now() - started < 30_000);
});

test('a generation aborted inside a step rejects, names where it stopped, and the pipeline gives the same bits after', LIMIT, async () => {
  const call = { image: inputImage, prompt: 'a cat', steps: 2, size: 64, seed: 11 };
  const reference = await pipe.variation(call);
  // At 320x320 the tiny UNet's forward takes long enough that the abort lands inside it.
  const ac = new AbortController();
  const run = pipe.variation({ ...call, size: 320, steps: 3, signal: ac.signal, onProgress: (e) => e.phase === 'encode' && setTimeout(() => ac.abort(new Error('stop')), 20) });
  await assert.rejects(run, cancelled(/^generation cancelled in (UNet|VAE) .*: stop$/));
  const after = await pipe.variation(call);
  assert.deepEqual(after.images[0].rgb, reference.images[0].rgb);
});

async function interrupted(signalName, wantCode) {
  const out = path.join(s.dir, `interrupted-${signalName}`);
  let sentAt;
  const r = await runCli(['variation', '--model', tinyModel, '--image', inputImage, '--prompt', 'a cat', '--steps', '20', '--size', '512', '--seed', '1', '--out', out], {
    onSpawn: (p) =>
      p.stderr.on('data', (d) => {
        if (sentAt === undefined && /using the CPU backend/.test(String(d))) {
          sentAt = performance.now();
          setTimeout(() => p.kill(signalName), 300);
        }
      }),
  });
  assert.equal(r.timedOut, false);
  assert.equal(r.status, wantCode, r.stderr);
  assert.match(r.stderr, new RegExp(`${signalName}: stopping\\n(.|\\n)*indetail: generation cancelled.*interrupted by ${signalName}`));
  assert.doesNotMatch(r.stderr, /\n\s+at /);
  assert.ok(!existsSync(out) || readdirSync(out).length === 0, 'no file, partial or complete, and no temporary file');
  return r;
}

test('SIGINT and SIGTERM stop the CLI promptly: exit 130 / 143, nothing half-written', LIMIT, async () => {
  const t0 = performance.now();
  await interrupted('SIGINT', 130);
  await interrupted('SIGTERM', 143);
  assert.ok(performance.now() - t0 < 40_000);
});

test('20 load/dispose cycles end within 10% of the RSS after the first', LIMIT, () => {
  // In a fresh process (nothing else loaded), with full garbage collections between cycles.
  const script = `
    import { IndetailPipeline } from ${JSON.stringify(path.join(repoRoot, 'dist', 'index.js'))};
    import { rssBytes } from ${JSON.stringify(path.join(repoRoot, 'test', 'helpers', 'hostile.mjs'))};
    const rss = [];
    for (let i = 0; i <= 20; i++) {
      const p = await IndetailPipeline.load({ model: ${JSON.stringify(tinyModel)}, backend: 'cpu' });
      p.dispose();
      for (let k = 0; k < 3; k++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 10)); }
      rss.push(rssBytes());
    }
    process.stdout.write(JSON.stringify(rss));`;
  const r = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { env: { ...process.env, INDETAIL_DISABLE_CUDA: '1' }, encoding: 'utf8', timeout: 50_000 });
  assert.equal(r.status, 0, r.stderr);
  const rss = JSON.parse(r.stdout);
  const [first, last] = [rss[0], rss[20]];
  const mb = (x) => (x / 2 ** 20).toFixed(1);
  assert.ok(last <= first * 1.1, `RSS after the first cycle ${mb(first)} MB, after 20 more ${mb(last)} MB (${rss.map(mb).join(' ')})`);
});
