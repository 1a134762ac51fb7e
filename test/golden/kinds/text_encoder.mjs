// Golden kind 'text_encoder': CLIPTextModel(input_ids) of the case's text encoder (parameters
// model_dir, default the manifest's diffusers folder's text_encoder/) on the CPU backend, for
// every output the case lists; an output this encoder does not produce fails by name.
import assert from 'node:assert/strict';
import path from 'node:path';
import { Engine, CLIPTextEncoder, openSafetensors } from '../../../dist/index.js';
import { assertClose } from '../../helpers/compare.mjs';
import { modelDir } from '../../helpers/fixtures.mjs';

export const kind = 'text_encoder';

// Case output name -> the encoder output holding it.
const OUTPUTS = {
  last_hidden_state: 'lastHiddenState',
  penultimate_hidden_state: 'penultimateHiddenState',
  pooler_output: 'pooled',
  text_embeds: 'textEmbeds',
};

export async function run(caseSpec, ctx) {
  const inputs = Object.keys(caseSpec.inputs);
  assert.deepEqual(inputs, ['input_ids'], `${caseSpec.name}: inputs ${inputs.join(', ')} (this handler feeds input_ids only)`);
  const unknown = Object.keys(caseSpec.outputs).filter((n) => !OUTPUTS[n]);
  assert.equal(unknown.length, 0, `${caseSpec.name}: outputs ${unknown.join(', ')} are not produced by CLIPTextEncoder`);
  const p = caseSpec.parameters ?? {};
  const dir = p.model_dir ? path.join(ctx.root, p.model_dir) : modelDir(ctx, 'diffusers', 'text_encoder');
  const golden = await openSafetensors(ctx.file);
  const engine = new Engine({ backend: 'cpu' });
  const encoder = await CLIPTextEncoder.load(engine, { dir });
  try {
    const [batch] = caseSpec.inputs.input_ids.shape;
    const ids = golden.tensor('input_ids').readSync();
    const wants = Object.keys(caseSpec.outputs);
    const pooled = wants.includes('pooler_output') || wants.includes('text_embeds');
    const out = await encoder.encode(Int32Array.from(ids), batch, { pooled, penultimate: wants.includes('penultimate_hidden_state') });
    const atol = caseSpec.tolerance.abs;
    for (const [name, spec] of Object.entries(caseSpec.outputs)) {
      const tensor = out[OUTPUTS[name]];
      assert.ok(tensor, `${caseSpec.name}.${name}: the encoder gives no ${OUTPUTS[name]} (is its config a CLIPTextModelWithProjection?)`);
      assert.deepEqual(tensor.shape, spec.shape, `${caseSpec.name}.${name} shape`);
      const s = assertClose(await tensor.readFloat32(), golden.tensor(name).readSync(), { atol }, `${caseSpec.name}.${name}`);
      ctx.t.diagnostic(`${name}: max abs error ${s.maxAbs.toExponential(2)} (tolerance ${atol})`);
    }
    for (const t of Object.values(out)) t.dispose();
  } finally {
    encoder.dispose();
    engine.dispose();
    golden.close();
  }
}
