// Golden kind `encode_prompt_sdxl`: StableDiffusionXLPipeline.encode_prompt with classifier-free
// guidance, i.e. the SDXL family's conditioning of the manifest's diffusers folder: both
// tokenizers give the case's ids, and the prompts and negative prompts (the empty one encoded,
// not zeroed) give the case's concatenated penultimate states and pooled embeddings.
import assert from 'node:assert/strict';
import { CLIPTokenizer, Engine, locateModel, openSafetensors } from '../../../dist/index.js';
import { assertClose } from '../../helpers/compare.mjs';
import { assertCaseTensors, modelDir } from '../../helpers/fixtures.mjs';

export const kind = 'encode_prompt_sdxl';

const IDS = { input_ids: ['prompts', 0], input_ids_2: ['prompts', 1], negative_input_ids: ['negative_prompts', 0], negative_input_ids_2: ['negative_prompts', 1] };
const OUTPUTS = {
  prompt_embeds: ['prompts', 'context'],
  pooled_prompt_embeds: ['prompts', 'pooled'],
  negative_prompt_embeds: ['negative_prompts', 'context'],
  negative_pooled_prompt_embeds: ['negative_prompts', 'pooled'],
};

export async function run(c, ctx) {
  assertCaseTensors(c, { inputs: Object.keys(IDS), outputs: Object.keys(OUTPUTS) });
  const p = c.parameters;
  const files = await locateModel(modelDir(ctx, 'diffusers'));
  assert.equal(files.family.id, 'sdxl', `${c.name}: the model is not recognised as SDXL (${files.familyReason})`);
  const golden = await openSafetensors(ctx.file);
  const engine = new Engine({ backend: 'cpu' });
  const conditioner = await files.family.conditioning.load(engine, files.textEncoders);
  try {
    for (const [name, [list, encoder]] of Object.entries(IDS)) {
      const tok = await CLIPTokenizer.fromFolder(files.textEncoders[encoder].tokenizerDir);
      assert.deepEqual([...tok.encodeBatch(p[list]).ids], [...golden.tensor(name).readSync()], `${c.name}.${name}: token ids`);
    }
    const table = await conditioner.encode([...new Set([...p.prompts, ...p.negative_prompts])]);
    for (const [name, [list, field]] of Object.entries(OUTPUTS)) {
      const data = await table[field].readFloat32();
      const width = data.length / table.prompts.length;
      const got = new Float32Array(p[list].length * width);
      p[list].forEach((prompt, r) => got.set(data.subarray(table.row(prompt) * width, (table.row(prompt) + 1) * width), r * width));
      assert.deepEqual([p[list].length, ...table[field].shape.slice(1)], c.outputs[name].shape, `${c.name}.${name} shape`);
      const s = assertClose(got, golden.tensor(name).readSync(), { atol: c.tolerance.abs }, `${c.name}.${name}`);
      ctx.t.diagnostic(`${name}: max abs error ${s.maxAbs.toExponential(2)} (tolerance ${c.tolerance.abs})`);
    }
    table.dispose();
  } finally {
    conditioner.dispose();
    engine.dispose();
    golden.close();
  }
}
