// Runs in an Electron utility process (utilityProcess.fork from main.mjs). It loads the pipeline
// once and serves generation requests from the main process over process.parentPort. The native
// engine already does its heavy work on worker threads; a utility process adds what a thread
// cannot: the CPU backend's threads and the model's memory live outside the UI's processes, and
// a crash (or a user cancelling by killing it) cannot take the app down.
//
// Messages in:  { type: 'generate', model, image, prompt, steps?, size?, seed?, samples? }
//               { type: 'cancel' }
// Messages out: { type: 'info' | 'warning', message }, { type: 'progress', phase, step, total },
//               { type: 'done', backend, seed, pngs: Uint8Array[] }, { type: 'error', message, code }
import { IndetailPipeline } from 'indetail';

const port = process.parentPort;
let pipe;
let pipeModel;
let abort;

async function pipelineFor(model) {
  if (pipe && pipeModel === model) return pipe;
  pipe?.dispose();
  pipe = undefined;
  pipe = await IndetailPipeline.load({
    model,
    backend: 'auto', // CUDA after a successful device probe and GPU self-test, else the CPU
    onInfo: (message) => port.postMessage({ type: 'info', message }),
    onWarning: (message) => port.postMessage({ type: 'warning', message }),
  });
  pipeModel = model;
  return pipe;
}

async function generate(req) {
  abort = new AbortController();
  try {
    const p = await pipelineFor(req.model);
    const result = await p.variation({
      image: req.image,
      prompt: req.prompt,
      ...(req.steps !== undefined ? { steps: req.steps } : {}),
      ...(req.size !== undefined ? { size: req.size } : {}),
      ...(req.seed !== undefined ? { seed: req.seed } : {}),
      ...(req.samples !== undefined ? { samples: req.samples } : {}),
      signal: abort.signal,
      onProgress: (e) => port.postMessage({ type: 'progress', phase: e.phase, step: e.step, total: e.total }),
    });
    port.postMessage({ type: 'done', backend: result.backend, seed: result.parameters.seed, pngs: result.images.map((i) => new Uint8Array(i.png)) });
  } catch (err) {
    port.postMessage({ type: 'error', message: err.message, code: err.code });
  }
}

port.on('message', ({ data }) => {
  if (data?.type === 'generate') void generate(data);
  else if (data?.type === 'cancel') abort?.abort(new Error('cancelled by the user'));
});
