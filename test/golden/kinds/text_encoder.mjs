// Golden kind 'text_encoder': CLIPTextModel(input_ids) of the fixture's text encoder
// (last_hidden_state and pooler_output), on the CPU backend.
import assert from 'node:assert/strict';
import path from 'node:path';
import { Engine, CLIPTextEncoder, openSafetensors } from '../../../dist/index.js';
import { assertClose } from '../../helpers/compare.mjs';

export const kind = 'text_encoder';

export async function run(caseSpec, ctx) {
  const golden = await openSafetensors(ctx.file);
  const engine = new Engine({ backend: 'cpu' });
  const dir = path.join(ctx.root, ctx.manifest.model_dirs.diffusers, 'text_encoder');
  const encoder = await CLIPTextEncoder.load(engine, { dir });
  try {
    const [batch] = caseSpec.inputs.input_ids.shape;
    const ids = golden.tensor('input_ids').readSync();
    const out = await encoder.encode(Int32Array.from(ids), batch, { pooled: true });
    const atol = caseSpec.tolerance.abs;
    const results = [
      ['last_hidden_state', out.lastHiddenState],
      ['pooler_output', out.pooled],
    ];
    for (const [name, tensor] of results) {
      const spec = caseSpec.outputs[name];
      assert.deepEqual(tensor.shape, spec.shape, `${caseSpec.name}.${name} shape`);
      const s = assertClose(await tensor.readFloat32(), golden.tensor(name).readSync(), { atol }, `${caseSpec.name}.${name}`);
      ctx.t.diagnostic(`${name}: max abs error ${s.maxAbs.toExponential(2)} (tolerance ${atol})`);
      tensor.dispose();
    }
  } finally {
    encoder.dispose();
    engine.dispose();
    golden.close();
  }
}
