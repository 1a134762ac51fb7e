// The published package works without a compiler or CUDA toolkit: `npm pack` the package, install
// the tarball offline into an empty project with a PATH that holds only node, npm and sh (no cc, c++,
// g++, cmake, nvcc) and PREBUILDS_ONLY=1, then run the tiny fixture model end to end through the
// installed package's API and its CLI bin.
//
// The tarball ships prebuilds/linux-x64/indetail.napi.glibc.node. When `npm run prebuild` has
// made one, that is what is packed. Otherwise (a plain `npm install && npm test`, as in CI) the
// test packs a staged copy of the package whose prebuild is the already-built
// build/Release/indetail.node — the same binary in the same layout — rather than spend minutes
// compiling a release build here; the diagnostics say which was used.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { prebuildFile } from '../scripts/prebuild-lib.mjs';
import { fixturePath, repoRoot } from './helpers/fixtures.mjs';

const work = mkdtempSync(path.join(tmpdir(), 'indetail-pack-'));
after(() => rmSync(work, { recursive: true, force: true }));

const PREBUILD_REL = path.relative(repoRoot, prebuildFile(repoRoot));

function npmCli() {
  if (process.env.npm_execpath && /npm-cli\.js$/.test(process.env.npm_execpath)) return process.env.npm_execpath;
  const r = spawnSync('/bin/sh', ['-c', 'command -v npm'], { encoding: 'utf8' });
  assert.equal(r.status, 0, 'npm is on PATH');
  return realpathSync(r.stdout.trim());
}

// A folder holding only node, npm and sh (npm runs package scripts with \`sh -c\`): the PATH of
// the "user machine".
function toolsOnlyPath() {
  const bin = path.join(work, 'bin');
  mkdirSync(bin);
  symlinkSync(process.execPath, path.join(bin, 'node'));
  symlinkSync(npmCli(), path.join(bin, 'npm'));
  symlinkSync('/bin/sh', path.join(bin, 'sh'));
  return bin;
}

// The package folder to pack, and whether its prebuild is a release prebuild or the staged dev build.
function packageToPack() {
  if (existsSync(prebuildFile(repoRoot))) return { dir: repoRoot, prebuild: 'release prebuild from npm run prebuild' };
  const built = path.join(repoRoot, 'build', 'Release', 'indetail.node');
  assert.ok(existsSync(built), 'build/Release/indetail.node exists (npm install builds it)');
  const stage = path.join(work, 'stage');
  const skip = new Set(['node_modules', '.git', 'build', 'prebuilds', '.device']);
  for (const e of readdirSync(repoRoot)) {
    if (skip.has(e) || e.endsWith('.tgz')) continue;
    cpSync(path.join(repoRoot, e), path.join(stage, e), { recursive: true });
  }
  mkdirSync(path.dirname(prebuildFile(stage)), { recursive: true });
  cpSync(built, prebuildFile(stage));
  return { dir: stage, prebuild: 'build/Release/indetail.node staged as the prebuild (no npm run prebuild output found)' };
}

function run(cmd, args, opts) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  if (r.error) throw r.error;
  return r;
}

test('npm pack ships the prebuild; offline install without compilers runs the tiny model via the API and the CLI', { timeout: 300_000 }, async (t) => {
  const started = Date.now();
  const lap = (what) => t.diagnostic(`${what}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const bin = toolsOnlyPath();
  const userEnv = {
    PATH: bin,
    HOME: process.env.HOME ?? homedir(),
    TMPDIR: tmpdir(),
    PREBUILDS_ONLY: '1',
    // The cache the main install filled (CI: ~/.npm unless npm_config_cache says otherwise).
    npm_config_cache: process.env.npm_config_cache || path.join(process.env.HOME ?? homedir(), '.npm'),
    npm_config_update_notifier: 'false',
    npm_config_fund: 'false',
    npm_config_audit: 'false',
  };
  for (const tool of ['cc', 'c++', 'gcc', 'g++', 'cmake', 'nvcc', 'make', 'ninja']) {
    assert.notEqual(run('/bin/sh', ['-c', `command -v ${tool}`], { env: userEnv }).status, 0, `${tool} must be unreachable`);
  }

  // --- pack -------------------------------------------------------------------------------------
  const pkg = packageToPack();
  t.diagnostic(`prebuild packed: ${pkg.prebuild}`);
  const pack = run(process.execPath, [npmCli(), 'pack', '--json', '--ignore-scripts', '--pack-destination', work], { cwd: pkg.dir });
  assert.equal(pack.status, 0, pack.stderr);
  const info = JSON.parse(pack.stdout)[0];
  const files = info.files.map((f) => f.path);
  t.diagnostic(`tarball ${info.filename}: ${(info.size / 2 ** 20).toFixed(2)} MiB packed, ${(info.unpackedSize / 2 ** 20).toFixed(2)} MiB unpacked, ${info.entryCount} files`);
  lap('packed');
  for (const f of [PREBUILD_REL, 'dist/index.js', 'dist/index.d.ts', 'dist/cli/main.js', 'scripts/install-native.mjs', 'CMakeLists.txt', 'configs/sd15/tokenizer/vocab.json', 'README.md']) {
    assert.ok(files.includes(f), `the tarball has ${f}`);
  }
  for (const f of files) {
    assert.doesNotMatch(f, /^(test|bench\/out|build|ts|examples|node_modules)\//, `no ${f} in the tarball`);
    assert.doesNotMatch(f, /\.map$|\.tgz$/, `no ${f} in the tarball`);
  }

  // --- install into an empty project, offline, no compilers ------------------------------------
  const app = path.join(work, 'app');
  mkdirSync(app);
  writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, type: 'module' }));
  const tarball = path.join(work, info.filename);
  const installArgs = ['install', tarball, '--no-audit', '--no-fund', '--foreground-scripts'];
  let install = run(path.join(bin, 'npm'), [...installArgs, '--offline'], { cwd: app, env: userEnv });
  if (install.status !== 0 && /ENOTCACHED/.test(install.stderr)) {
    t.diagnostic('some dependency is not in the npm cache; retrying with --prefer-offline (registry allowed)');
    install = run(path.join(bin, 'npm'), [...installArgs, '--prefer-offline'], { cwd: app, env: userEnv });
  }
  assert.equal(install.status, 0, `npm install failed:\n${install.stdout}\n${install.stderr}`);
  lap('installed');
  const installed = path.join(app, 'node_modules', 'indetail');
  assert.ok(existsSync(prebuildFile(installed)), 'the prebuild is installed');
  assert.ok(!existsSync(path.join(installed, 'build')), 'nothing was compiled at install');
  // The install script either found the prebuild or did not run (npm may hold back dependency
  // scripts); either way nothing may be compiled, and loading must not depend on it.
  const ranScript = /indetail: using the native addon at prebuilds\//.test(install.stdout);
  t.diagnostic(`indetail's install script ${ranScript ? 'ran and found the prebuild' : 'did not run (loading does not need it)'}`);
  for (const l of (install.stdout + install.stderr).split('\n').filter((x) => /install.?scripts|allowScripts|approve-scripts/i.test(x))) t.diagnostic(`npm: ${l.trim()}`);
  assert.doesNotMatch(install.stdout + install.stderr, /compiling the native addon from source/);

  // --- run the tiny model: CLI bin, then the API (which also compares the two images) ------------
  cpSync(fixturePath('tiny-sd15'), path.join(app, 'tiny-sd15'), { recursive: true });
  cpSync(fixturePath('golden', 'input_image.png'), path.join(app, 'cat.png'));
  const cliBin = path.join(app, 'node_modules', '.bin', 'indetail');
  const doctor = run(cliBin, ['doctor', '--json'], { cwd: app, env: userEnv });
  assert.equal(doctor.status, 0, doctor.stderr);
  const report = JSON.parse(doctor.stdout);
  assert.equal(report.addon.kind, 'prebuilt');
  assert.equal(realpathSync(report.addon.path), realpathSync(prebuildFile(installed)));
  // node-gyp-build in Electron (runtime=electron; ELECTRON_RUN_AS_NODE makes it think so) picks the same file.
  const asElectron = run(path.join(bin, 'node'), ['-e', `process.stdout.write(require('node-gyp-build').path(${JSON.stringify(installed)}))`], { cwd: app, env: { ...userEnv, ELECTRON_RUN_AS_NODE: '1' } });
  assert.equal(asElectron.status, 0, asElectron.stderr);
  assert.equal(realpathSync(asElectron.stdout), realpathSync(prebuildFile(installed)));
  t.diagnostic(`installed package: backends ${report.backends.join(', ')}; cuda ${report.build.cudaCompiled ? 'compiled' : 'not compiled'}; auto → ${report.auto.backend}`);

  // The model runs use the CPU: this test is about installing; the GPU has its own tests.
  const runEnv = { ...userEnv, INDETAIL_DISABLE_CUDA: '1' };
  const common = ['--model', 'tiny-sd15', '--image', 'cat.png', '--prompt', 'a cat', '--steps', '2', '--size', '64', '--seed', '5'];
  const cli = run(cliBin, ['variation', ...common, '--out', 'out', '--json'], { cwd: app, env: runEnv });
  assert.equal(cli.status, 0, cli.stderr);
  const summary = JSON.parse(cli.stdout);
  assert.deepEqual(summary.files.map((f) => path.basename(f)), ['variation-5-1.png']);
  assert.deepEqual(readFileSync(path.join(app, summary.files[0])).subarray(0, 8), Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]));
  lap('CLI ran');

  writeFileSync(path.join(app, 'api.mjs'), `
    import { IndetailPipeline, readImage } from 'indetail';
    const pipe = await IndetailPipeline.load({ model: './tiny-sd15', onWarning: () => {} });
    const r = await pipe.variation({ image: './cat.png', prompt: 'a cat', steps: 2, size: 64, seed: 5 });
    pipe.dispose();
    const img = r.images[0];
    const fromCli = await readImage(${JSON.stringify(summary.files[0])});
    let diff = 0;
    for (let i = 0; i < img.rgb.length; i++) diff = Math.max(diff, Math.abs(img.rgb[i] - fromCli.data[i]));
    console.log(JSON.stringify({ backend: r.backend, width: img.width, height: img.height, pngBytes: img.png.length,
      sameSize: fromCli.width === img.width && fromCli.height === img.height, maxDiffVsCli: diff }));
  `);
  const api = run(path.join(bin, 'node'), ['api.mjs'], { cwd: app, env: runEnv });
  assert.equal(api.status, 0, api.stderr);
  const out = JSON.parse(api.stdout.trim().split('\n').at(-1));
  assert.equal(out.width, 64);
  assert.equal(out.height, 64);
  assert.ok(out.pngBytes > 100);
  assert.equal(out.backend, summary.backend, 'the API and the CLI chose the same backend');
  assert.ok(out.sameSize);
  assert.equal(out.maxDiffVsCli, 0, 'the API and the CLI make the same image from the same seed');
  lap('API ran');

  // The Electron example's utility-process code against the installed package, with Electron's
  // process.parentPort stood in for by a shim (Electron itself is not available here).
  cpSync(path.join(repoRoot, 'examples', 'electron', 'generator.mjs'), path.join(app, 'generator.mjs'));
  cpSync(path.join(repoRoot, 'test', 'helpers', 'electron-parent-port.mjs'), path.join(app, 'parent-port-shim.mjs'));
  const request = { type: 'generate', model: './tiny-sd15', image: './cat.png', prompt: 'a cat', steps: 2, size: 64, seed: 5 };
  const gen = run(path.join(bin, 'node'), ['--import', './parent-port-shim.mjs', 'generator.mjs'], { cwd: app, env: { ...runEnv, INDETAIL_TEST_REQUEST: JSON.stringify(request) } });
  assert.equal(gen.status, 0, gen.stderr);
  const messages = gen.stdout.trim().split('\n').map((l) => JSON.parse(l));
  const done = messages.at(-1);
  assert.equal(done.type, 'done', gen.stdout);
  assert.equal(done.backend, out.backend);
  assert.deepEqual(done.pngs[0].head, [137, 80, 78, 71, 13, 10, 26, 10]);
  assert.deepEqual(messages.filter((m) => m.type === 'progress' && m.phase === 'denoise').map((m) => m.step), [1, 2]);
  lap('Electron example generator ran (parentPort shim)');

  // --- npm may hold back dependency install scripts (npm 11 allowScripts policy, --ignore-scripts):
  // the prebuild is found by node-gyp-build at load time, so the package works without them.
  const app2 = path.join(work, 'app-no-scripts');
  mkdirSync(app2);
  writeFileSync(path.join(app2, 'package.json'), JSON.stringify({ name: 'app2', version: '1.0.0', private: true, allowScripts: { indetail: false } }));
  const noScripts = run(path.join(bin, 'npm'), ['install', tarball, '--no-audit', '--no-fund', '--foreground-scripts', '--offline', '--ignore-scripts'], { cwd: app2, env: userEnv });
  assert.equal(noScripts.status, 0, `npm install --ignore-scripts failed:\n${noScripts.stdout}\n${noScripts.stderr}`);
  assert.doesNotMatch(noScripts.stdout, /indetail: using the native addon/, 'the install script did not run');
  cpSync(path.join(app, 'tiny-sd15'), path.join(app2, 'tiny-sd15'), { recursive: true });
  cpSync(path.join(app, 'cat.png'), path.join(app2, 'cat.png'));
  const cli2 = run(path.join(app2, 'node_modules', '.bin', 'indetail'), ['variation', ...common, '--out', 'out', '--json'], { cwd: app2, env: runEnv });
  assert.equal(cli2.status, 0, cli2.stderr);
  assert.deepEqual(readFileSync(path.join(app2, JSON.parse(cli2.stdout).files[0])), readFileSync(path.join(app, summary.files[0])));
  lap('installed with scripts blocked and ran the CLI');
});
