// Golden cases of kind 'unet': UNet2DConditionModel(sample, timestep, encoder_hidden_states,
// added_cond_kwargs?).sample on the manifest's tiny UNet (scalar and per-sample timesteps,
// non-square and odd latent sizes; SDXL's text_embeds and time_ids when the case has them).
// Also exports the helpers the controlnet handlers share (model cache, NCHW <-> NHWC I/O, inputs).
import { Engine, UNet, ControlNet, openSafetensors } from '../../../dist/index.js';
import { assertClose } from '../../helpers/compare.mjs';
import { assertCaseTensors, modelDir } from '../../helpers/fixtures.mjs';
import { nchwToNhwc, nhwcToNchw } from '../../helpers/layout.mjs';

export const kind = 'unet';

const models = new Map();

// One engine and one copy of each tiny model per fixture root, shared by every case.
export function tinyModels(ctx) {
  if (!models.has(ctx.root)) {
    const engine = new Engine();
    let unet, controlnet;
    models.set(ctx.root, {
      engine,
      unet: () => (unet ??= UNet.load(engine, { dir: modelDir(ctx, 'diffusers', 'unet') })),
      controlnet: () => (controlnet ??= ControlNet.load(engine, { dir: modelDir(ctx, 'controlnet') })),
    });
  }
  return models.get(ctx.root);
}

export async function openGolden(file) {
  const g = await openSafetensors(file);
  const read = (name) => {
    const t = g.tensor(name);
    const data = t.readSync();
    const shape = t.shape;
    t.dispose();
    return { data, shape };
  };
  return { read, close: () => g.close() };
}

// An NCHW golden tensor uploaded as NHWC.
export function uploadNchw(engine, { data, shape }) {
  const [n, c, h, w] = shape;
  return engine.tensor(nchwToNhwc(data, shape), [n, h, w, c]);
}

export function upload(engine, { data, shape }) {
  return engine.tensor(data instanceof Float32Array ? data : Float32Array.from(data), shape);
}

// Compares an NHWC engine tensor with an NCHW golden tensor; returns the max abs error.
export async function expectNchw(t, tensor, expected, tolerance, label) {
  const [n, h, w, c] = tensor.shape;
  const [en, ec, eh, ew] = expected.shape;
  if (n !== en || c !== ec || h !== eh || w !== ew) {
    throw new Error(`${label}: got NHWC [${tensor.shape}] but the golden NCHW shape is [${expected.shape}]`);
  }
  const got = nhwcToNchw(await tensor.readFloat32(), tensor.shape);
  const s = assertClose(got, expected.data, { atol: tolerance.abs ?? 0, rtol: tolerance.rel ?? 0 }, label);
  t.diagnostic(`${label}: max abs error ${s.maxAbs.toExponential(2)} (tolerance ${tolerance.abs})`);
  return s.maxAbs;
}

// Runs fn({ unet, controlnet, g, sample, context, cond, keep }) with the tiny models and the
// golden file's sample, encoder_hidden_states and controlnet_cond uploaded; afterwards disposes
// every tensor passed through keep() and closes the file.
export async function withControlNetInputs(ctx, fn) {
  const { engine, unet, controlnet } = tinyModels(ctx);
  const [u, cn] = [await unet(), await controlnet()];
  const g = await openGolden(ctx.file);
  const made = [];
  const keep = (x) => (made.push(x), x);
  try {
    const sample = keep(uploadNchw(engine, g.read('sample')));
    const context = keep(upload(engine, g.read('encoder_hidden_states')));
    const cond = keep(uploadNchw(engine, g.read('controlnet_cond')));
    return await fn({ unet: u, controlnet: cn, g, sample, context, cond, keep });
  } finally {
    made.forEach((x) => x.dispose());
    g.close();
  }
}

// SDXL's added_cond_kwargs of a case: text_embeds [N, P] and time_ids [N, T] (one list per frame).
function addedConditions(engine, c, g) {
  const has = ['text_embeds', 'time_ids'].filter((n) => n in c.inputs);
  if (has.length === 0) return undefined;
  if (has.length !== 2) throw new Error(`${c.name}: inputs ${has.join(', ')} without the other of text_embeds / time_ids`);
  const ids = g.read('time_ids');
  const [n, count] = ids.shape;
  const timeIds = Array.from({ length: n }, (_, f) => Array.from(ids.data.subarray(f * count, (f + 1) * count)));
  return { textEmbeds: upload(engine, g.read('text_embeds')), timeIds };
}

export async function run(c, ctx) {
  assertCaseTensors(c, { inputs: ['sample', 'timestep', 'encoder_hidden_states', 'text_embeds', 'time_ids'], outputs: ['noise_pred'] });
  const { engine, unet } = tinyModels(ctx);
  const model = await unet();
  const g = await openGolden(ctx.file);
  try {
    const sample = uploadNchw(engine, g.read('sample'));
    const context = upload(engine, g.read('encoder_hidden_states'));
    const ts = Array.from(g.read('timestep').data);
    const frames = sample.shape[0];
    const added = addedConditions(engine, c, g);
    const out = await model.forward({ sample, context, timesteps: ts.length === 1 ? ts[0] : ts, ...(added ? { added } : {}) });
    if (ts.length !== 1 && ts.length !== frames) throw new Error(`unexpected timestep count ${ts.length}`);
    await expectNchw(ctx.t, out, g.read('noise_pred'), c.tolerance, `${c.name}.noise_pred`);
    for (const x of [sample, context, out, ...(added ? [added.textEmbeds] : [])]) x.dispose();
  } finally {
    g.close();
  }
}
