// Electron main process: a window that shows the result, and indetail in a utility process
// (generator.mjs) so the main process never runs model code. Usage:
//
//   npm start -- --model /path/to/stable-diffusion-v1-5 --image cat.png --prompt "a photograph of a cat"
//
// Running the pipeline directly in the main process also works (every heavy call is async and
// runs off the JavaScript thread): import { IndetailPipeline } from 'indetail' here instead.
import { app, BrowserWindow, utilityProcess } from 'electron';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));

const { values: args } = parseArgs({
  args: process.argv.slice(app.isPackaged ? 1 : 2),
  options: {
    model: { type: 'string' },
    image: { type: 'string' },
    prompt: { type: 'string', default: 'a photograph' },
    steps: { type: 'string', default: '50' },
    size: { type: 'string', default: '512' },
    seed: { type: 'string', default: '1' },
  },
  strict: false,
});

function startGenerator() {
  // stdio 'inherit': the generator's stderr (e.g. native messages) shows in the terminal.
  return utilityProcess.fork(path.join(here, 'generator.mjs'), [], { serviceName: 'indetail generator', stdio: 'inherit' });
}

function generate(child, request, onProgress) {
  return new Promise((resolve, reject) => {
    const onMessage = (m) => {
      if (m.type === 'progress') onProgress(m);
      else if (m.type === 'info') console.log(`indetail: ${m.message}`);
      else if (m.type === 'warning') console.warn(`indetail: warning: ${m.message}`);
      else if (m.type === 'done' || m.type === 'error') {
        child.off('message', onMessage);
        if (m.type === 'done') resolve(m);
        else reject(Object.assign(new Error(m.message), { code: m.code }));
      }
    };
    child.on('message', onMessage);
    child.once('exit', (code) => reject(new Error(`the generator process exited (code ${code})`)));
    child.postMessage({ type: 'generate', ...request });
  });
}

function page(body) {
  return `data:text/html;charset=utf-8,${encodeURIComponent(`<!doctype html><meta charset="utf-8"><title>indetail</title><body style="font:14px system-ui;margin:16px">${body}</body>`)}`;
}

app.whenReady().then(async () => {
  const win = new BrowserWindow({ width: 640, height: 720, webPreferences: { sandbox: true, contextIsolation: true } });
  if (!args.model || !args.image) {
    await win.loadURL(page('<p>Start with <code>npm start -- --model &lt;sd15 folder or .safetensors&gt; --image &lt;image&gt; --prompt "..."</code></p>'));
    return;
  }
  await win.loadURL(page('<p>Generating…</p>'));
  const child = startGenerator();
  try {
    const result = await generate(
      child,
      { model: args.model, image: args.image, prompt: args.prompt, steps: Number(args.steps), size: Number(args.size), seed: Number(args.seed) },
      (p) => win.setTitle(`indetail — ${p.phase} ${p.step}/${p.total}`),
    );
    const src = `data:image/png;base64,${Buffer.from(result.pngs[0]).toString('base64')}`;
    await win.loadURL(page(`<p>${result.backend}, seed ${result.seed}</p><img src="${src}" style="max-width:100%">`));
  } catch (err) {
    await win.loadURL(page(`<p>Failed: ${String(err.message).replace(/</g, '&lt;')}</p>`));
  } finally {
    child.kill();
  }
});

app.on('window-all-closed', () => app.quit());
