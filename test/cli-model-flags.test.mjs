// The model flags (--vae, --prediction-type, ...) are one definition shared by the generation
// commands, `indetail eval` and `indetail worker`: each of them hands them to the model load,
// which reports a missing VAE and a contradicted prediction type by name.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { runCli } from './helpers/cli.mjs';
import { repoRoot } from './helpers/fixtures.mjs';

const model = path.join(repoRoot, 'test', 'fixtures', 'tiny-sd15');
const image = path.join(repoRoot, 'test', 'fixtures', 'golden', 'input_image.png');
const dir = mkdtempSync(path.join(tmpdir(), 'indetail-model-flags-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const prompts = path.join(dir, 'prompts.json');
writeFileSync(prompts, JSON.stringify({ prompts: [{ id: 'cat', task: 'variation', image, text: 'a cat' }] }));

const commands = {
  variation: ['variation', '--image', image, '--prompt', 'a cat', '--steps', '2', '--size', '64', '--backend', 'cpu', '--out', path.join(dir, 'v')],
  eval: ['eval', '--prompts', prompts, '--steps', '2', '--samples', '1', '--size', '64', '--backend', 'cpu', '--out', path.join(dir, 'e')],
  // The model loads before the worker connects to Redis: port 1 is never reached.
  worker: ['worker', '--redis', 'redis://127.0.0.1:1', '--store', path.join(dir, 'store'), '--backend', 'cpu'],
};

for (const [name, args] of Object.entries(commands)) {
  test(`indetail ${name} passes --vae to the model load`, async () => {
    const missing = path.join(dir, 'no-such-vae.safetensors');
    const r = await runCli([...args, '--model', model, '--vae', missing]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /VAE not found: .*no-such-vae\.safetensors/);
  });

  test(`indetail ${name} passes --prediction-type to the model load`, async () => {
    const r = await runCli([...args, '--model', model, '--prediction-type', 'v_prediction']);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /predictionType option says v_prediction, but .*scheduler_config\.json \(prediction_type\) says epsilon/);
  });
}
