// Golden kind `attention`: the official image-prompt attention processor on the case's UNet layer, every
// subcase recomputed on the CPU backend (test/helpers/attention-golden.mjs) and compared within
// the manifest tolerance.
import assert from 'node:assert/strict';
import { Engine } from '../../../dist/index.js';
import { attentionGoldenSubcases } from '../../helpers/attention-golden.mjs';
import { assertClose } from '../../helpers/compare.mjs';
import { assertCaseTensors } from '../../helpers/fixtures.mjs';

export const kind = 'attention';

export async function run(caseSpec, ctx) {
  assertCaseTensors(caseSpec, { inputs: ['hidden_states'], outputs: caseSpec.parameters.subcases.map((s) => s.output) });
  const engine = new Engine({ backend: 'cpu' });
  const subcases = await attentionGoldenSubcases(engine, ctx.root, caseSpec);
  assert.deepEqual(subcases.map((s) => s.name).sort(), Object.keys(caseSpec.outputs).sort(), 'one result per output tensor');
  for (const s of subcases) {
    await ctx.t.test(s.name, () => {
      assert.deepEqual(s.shape, caseSpec.outputs[s.name].shape, `${s.name}: shape`);
      const r = assertClose(s.got, s.want, { atol: caseSpec.tolerance.abs }, s.name);
      ctx.t.diagnostic(`${s.name}: max abs error ${r.maxAbs.toExponential(2)} (tolerance ${caseSpec.tolerance.abs})`);
    });
  }
  engine.dispose();
}
