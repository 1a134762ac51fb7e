// `indetail eval` end to end on the tiny SD1.5 model (2 steps, 64x64) with the tiny CLIP and DINO
// of fixtures-eval: images, report, table and chart; the scores in the report are those of the
// written images; the images are the pipeline's for that configuration and seed; a second run
// regenerates nothing and writes the same report; an interrupted run continues where it stopped
// and ends with the uninterrupted run's scores.
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { IndetailPipeline, QualityMetrics, loadImage, readImage } from '../dist/index.js';
import { evalProgressPrinter } from '../dist/cli/progress.js';
import { runCli } from './helpers/cli.mjs';
import { repoRoot } from './helpers/fixtures.mjs';

const sd = path.join(repoRoot, 'test', 'fixtures');
const evalFixtures = path.join(repoRoot, 'test', 'fixtures-eval');
const model = path.join(sd, 'tiny-sd15');
const controlnet = path.join(sd, 'tiny-sd15-controlnet');
const clip = path.join(evalFixtures, 'tiny-clip-vit-l14');
const dino = path.join(evalFixtures, 'tiny-dino-vitb8');
const dir = mkdtempSync(path.join(tmpdir(), 'indetail-eval-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const prompts = [
  { id: 'cat', task: 'variation', image: 'cat.png', text: 'a photograph of a cat' },
  { id: 'owl', task: 'cross', image: 'source.png', text: 'an owl' },
  { id: 'penguin', task: 'structure', image: 'source.png', text: 'a penguin', condition: 'depth.png' },
];
const configs = [
  { name: 'stratified', attention: 'stratified', steps: 2, stratifiedSteps: 1, samples: 2, seeds: [7] },
  { name: 'concat', attention: 'concat', steps: 2, samples: 2, seeds: [7] },
];
const UNITS = prompts.length * configs.length;

before(() => {
  copyFileSync(path.join(sd, 'golden', 'input_image.png'), path.join(dir, 'cat.png'));
  copyFileSync(path.join(sd, 'golden', 'source_image.png'), path.join(dir, 'source.png'));
  copyFileSync(path.join(sd, 'golden', 'control_image.png'), path.join(dir, 'depth.png'));
  writeFileSync(path.join(dir, 'prompts.json'), JSON.stringify({ prompts }));
  writeFileSync(path.join(dir, 'configs.json'), JSON.stringify(configs));
});

const run = runCli;

const evalArgs = (out) => [
  'eval', '--model', model, '--controlnet', controlnet, '--prompts', path.join(dir, 'prompts.json'), '--configs', path.join(dir, 'configs.json'),
  '--clip', clip, '--dino', dino, '--size', '64', '--backend', 'cpu', '--out', out,
];

function unitFiles(out) {
  const root = path.join(out, 'units');
  if (!existsSync(root)) return [];
  return readdirSync(root, { recursive: true }).filter((f) => f.endsWith('.json')).map((f) => path.join(root, f));
}

function mtimes(out) {
  const root = path.join(out, 'images');
  return Object.fromEntries(readdirSync(root, { recursive: true }).filter((f) => f.endsWith('.png')).map((f) => [f, statSync(path.join(root, f)).mtimeMs]));
}

// The report without its timings (which differ from run to run).
function scoresOf(report) {
  const strip = (r) => Object.fromEntries(Object.entries(r).filter(([k]) => k !== 'secondsPerImage' && k !== 'metricSecondsPerImage'));
  return { results: report.results.map(strip), summary: report.summary.map(strip) };
}

const outA = path.join(dir, 'a');
let reportA;

test('indetail eval writes images, report, table and chart for every configuration, prompt and seed', async () => {
  const r = await run(evalArgs(outA));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`${UNITS} generation\\(s\\) run, 0 found`));
  for (const h of ['configuration', 'task', 's/image', 'CLIP-I', 'CLIP-T', 'DINO-G', 'DINO-C']) assert.ok(r.stdout.includes(h), `table column ${h}`);
  assert.match(r.stdout, /^stratified\s+variation\s+1\s/m);
  assert.match(r.stdout, /^concat\s+structure\s+1\s/m);

  reportA = JSON.parse(readFileSync(path.join(outA, 'report.json'), 'utf8'));
  assert.equal(reportA.results.length, UNITS);
  assert.deepEqual(reportA.summary.map((s) => `${s.configuration}/${s.task}`), ['stratified/variation', 'stratified/cross', 'stratified/structure', 'concat/variation', 'concat/cross', 'concat/structure']);
  assert.equal(reportA.dinoLayer, 11, 'the last DINO block by default');
  for (const res of reportA.results) {
    assert.equal(res.images.length, 2);
    for (const f of res.images) {
      const img = await readImage(path.join(outA, f));
      assert.deepEqual([img.width, img.height], [64, 64]);
    }
    for (const m of ['clipI', 'clipT']) assert.ok(Math.abs(res[m].mean) <= 1, `${m} is a cosine`);
    assert.ok(res.dinoG.mean > 0, 'DINO-G of two different samples');
    assert.equal(res.dinoC !== undefined, res.task === 'structure', 'DINO-C only for structure prompts');
    assert.ok(res.secondsPerImage.mean > 0);
  }
  const svg = readFileSync(path.join(outA, 'chart.svg'), 'utf8');
  assert.match(svg, /^<svg/);
  for (const label of ['CLIP-I', 'CLIP-T', 'DINO-G', 'DINO-C', 'seconds per image', 'stratified', 'concat']) assert.ok(svg.includes(label), `chart shows ${label}`);
});

test('the report holds the scores of the written images, and the images are the pipeline\'s for that configuration', async () => {
  const res = reportA.results.find((x) => x.configuration === 'stratified' && x.prompt === 'penguin');
  const images = res.images.map((f) => path.join(outA, f));
  const metrics = await QualityMetrics.load({ clip, dino });
  try {
    const condition = await loadImage(path.join(dir, 'depth.png'), 64);
    const s = await metrics.score({ images, imagePrompt: path.join(dir, 'source.png'), text: 'a penguin', condition });
    for (const m of ['clipI', 'clipT', 'dinoG', 'dinoC']) assert.equal(res[m].mean, s[m], `${m} of the written images`);
  } finally {
    metrics.dispose();
  }
  const pipe = await IndetailPipeline.load({ model, controlnet, backend: 'cpu' });
  try {
    const direct = await pipe.structure({ image: path.join(dir, 'source.png'), control: path.join(dir, 'depth.png'), prompt: 'a penguin', steps: 2, stratifiedSteps: 1, samples: 2, seed: 7, size: 64 });
    for (const [k, f] of images.entries()) {
      const written = await readImage(f);
      assert.ok(Buffer.from(written.data).equals(Buffer.from(direct.images[k].rgb)), `sample ${k + 1} is the pipeline's image`);
    }
  } finally {
    pipe.dispose();
  }
});

test('running again regenerates nothing and writes the same report', async () => {
  const before = mtimes(outA);
  const bytes = readFileSync(path.join(outA, 'report.json'));
  const r = await run(evalArgs(outA));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`0 generation\\(s\\) run, ${UNITS} found`));
  assert.deepEqual(mtimes(outA), before, 'no image rewritten');
  assert.ok(readFileSync(path.join(outA, 'report.json')).equals(bytes), 'the same report.json');
});

test('an interrupted run continues where it stopped and ends with the same scores', async () => {
  const outB = path.join(dir, 'b');
  const first = await run(evalArgs(outB), {
    onSpawn: (p) => {
      const poll = setInterval(() => {
        if (unitFiles(outB).length > 0) {
          clearInterval(poll);
          p.kill('SIGINT');
        }
      }, 20);
      p.on('close', () => clearInterval(poll));
    },
  });
  assert.equal(first.status, 130, first.stderr);
  assert.match(first.stderr, /interrupted.*run the same command again to continue/);
  const finished = unitFiles(outB).flatMap((f) => JSON.parse(readFileSync(f, 'utf8')).images);
  const done = unitFiles(outB).length;
  assert.ok(done >= 1 && done < UNITS, `${done} of ${UNITS} units were finished before the interrupt`);
  assert.ok(!existsSync(path.join(outB, 'report.json')), 'no report for an unfinished run');
  const kept = mtimes(outB);

  const second = await run(evalArgs(outB));
  assert.equal(second.status, 0, second.stderr);
  assert.match(second.stderr, new RegExp(`${UNITS - done} generation\\(s\\) run, ${done} found`));
  const now = mtimes(outB);
  for (const f of finished) assert.equal(now[path.relative('images', f)], kept[path.relative('images', f)], `${f} of a finished unit is not rewritten`);
  const reportB = JSON.parse(readFileSync(path.join(outB, 'report.json'), 'utf8'));
  assert.deepEqual(scoresOf(reportB), scoresOf(reportA));
});

test('indetail bench attention --quality joins speed at the model\'s decoder shapes and the scores of the four variants', async () => {
  writeFileSync(path.join(dir, 'one.json'), JSON.stringify([prompts[0]]));
  const json = path.join(dir, 'aq.json');
  const r = await run([
    'bench', 'attention', '--quality', '--quick', '--backend', 'cpu', '--model', model, '--prompts', path.join(dir, 'one.json'), '--clip', clip, '--dino', dino,
    '--steps', '2', '--samples', '2', '--size', '64', '--quality-out', path.join(dir, 'aq'), '--json', json, '--out', path.join(dir, 'aq.svg'),
  ]);
  assert.equal(r.status, 0, r.stderr);
  for (const h of ['variant', 'cpu attn ms/step', 'cpu vs naive', 's/image', 'CLIP-I', 'CLIP-T', 'DINO-G']) assert.ok(r.stdout.includes(h), `column ${h}`);
  const payload = JSON.parse(readFileSync(json, 'utf8'));
  assert.deepEqual(payload.rows.map((x) => x.variant), ['self', 'replace', 'concat', 'stratified']);
  assert.deepEqual(payload.quality.configurations.map((c) => c.attention), ['none', 'replace', 'concat', 'stratified']);
  // tiny-sd15 at 64x64: decoder self-attention at 2x2, 4x4 and 8x8 latents, 3 layers each
  assert.deepEqual([...new Set(payload.speed.map((x) => x.shape))], ['4x8x8', '16x8x4', '64x8x4']);
  for (const row of payload.rows) {
    assert.ok(row['cpu attn ms/step'] > 0 && row['cpu vs naive'] > 0, `${row.variant}: speed columns`);
    const res = payload.quality.summary.find((x) => x.configuration === row.variant);
    assert.equal(row['CLIP-I'], res.clipI.mean.toFixed(4), `${row.variant}: the evaluation's CLIP-I`);
  }
  assert.ok(existsSync(path.join(dir, 'aq', 'report.json')));
});

test('eval refuses bad input before any work, naming the problem', async () => {
  const out = path.join(dir, 'bad');
  const csv = path.join(dir, 'bad.csv');
  writeFileSync(csv, 'id,image,text,colour\nx,cat.png,a cat,red\n');
  let r = await run(['eval', '--model', model, '--prompts', csv, '--out', out]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /unknown column 'colour'/);

  writeFileSync(csv, 'id,task,image,text\nx,structure,cat.png,"a cat, sitting"\n');
  r = await run(['eval', '--model', model, '--prompts', csv, '--out', out]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /structure prompt needs a condition/);

  r = await run(['eval', '--model', model, '--prompts', path.join(dir, 'prompts.json'), '--configs', path.join(dir, 'configs.json'), '--steps', '3', '--out', out]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /--configs and --steps cannot be combined/);

  r = await run(['eval', '--model', model, '--prompts', path.join(dir, 'prompts.json'), '--seeds', '1,x', '--out', out]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /--seeds/);

  const pickled = path.join(dir, 'clip-pickled');
  rmSync(pickled, { recursive: true, force: true });
  copyDir(clip, pickled, ['model.safetensors']);
  writeFileSync(path.join(pickled, 'pytorch_model.bin'), 'not loaded');
  r = await run([...evalArgs(path.join(dir, 'pk')).map((a) => (a === clip ? pickled : a))]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /pytorch_model\.bin is a pickle checkpoint.*never loads.*transformers/);
  assert.ok(!r.stderr.includes('    at '), 'no stack trace');
});

function copyDir(from, to, skip) {
  mkdirSync(to, { recursive: true });
  for (const f of readdirSync(from)) if (!skip.includes(f)) copyFileSync(path.join(from, f), path.join(to, f));
}

test('progress is one line redrawn on a terminal, and nothing elsewhere', () => {
  const written = [];
  const tty = { isTTY: true, write: (s) => written.push(s) };
  const p = evalProgressPrinter(tty);
  p({ done: 2, units: 8, configuration: 'stratified', prompt: 'cat', seed: 7, stage: 'generate', step: { phase: 'denoise', step: 5, total: 50, elapsed: 1 } });
  p({ done: 3, units: 8, configuration: 'concat', prompt: 'owl', seed: 7, stage: 'skip' });
  p.done();
  assert.equal(written.length, 3);
  assert.match(written[0], /^\reval \[#{5}\.{15}\] 2\/8  stratified \/ cat \/ seed 7  denoise 5\/50$/);
  assert.match(written[1], /^\reval .* 3\/8  concat \/ owl \/ seed 7  on disk/);
  assert.equal(written[2], '\n');
  const piped = [];
  const q = evalProgressPrinter({ isTTY: false, write: (s) => piped.push(s) });
  q({ done: 0, units: 1, configuration: 'a', prompt: 'b', seed: 0, stage: 'metrics' });
  q.done();
  assert.deepEqual(piped, []);
});
