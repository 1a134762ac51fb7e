#!/usr/bin/env node
// Builds the release addon that `npm pack` ships: prebuilds/<platform>-<arch>/indetail.napi.glibc.node,
// the name node-gyp-build loads (Node-API, so any Node >= 20.19 and Electron; glibc, so musl
// systems compile from source instead of failing to dlopen it).
//
// The build: CPU backend always; CUDA when nvcc is found (real code for PREBUILD_CUDA_ARCHITECTURES
// plus PTX of the newest for later GPUs), static CUDA runtime, $ORIGIN rpath, stripped. libstdc++
// stays dynamic: linked statically with GCC 12 it pulls in arc4random (glibc 2.36) and
// _dl_find_object (2.35), which would lock out Ubuntu 22.04; the system libstdc++ is on every
// Linux desktop and server, Electron apps' included. The glibc and libstdc++ versions the
// binary needs are printed at the end: build on an old distribution to lower them. It builds in build/prebuild/ and leaves build/Release alone, then
// checks the result (see verify-prebuild.mjs) and loads it through node-gyp-build's own loader.
//
//   node scripts/prebuild.mjs                       build + verify
//   INDETAIL_CUDA=0 node scripts/prebuild.mjs        CPU-only prebuild
//   INDETAIL_CUDA_ARCHITECTURES="90-real" ...         other CUDA architectures (iteration only)
//   node scripts/prebuild.mjs --verify-only          check an existing prebuild
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PREBUILD_CUDA_ARCHITECTURES, prebuildDir, prebuildFile, verifyPrebuild } from './prebuild-lib.mjs';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const env = process.env;
const outDir = path.join(root, 'build', 'prebuild');
const target = prebuildFile(root);

function hasCommand(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function build() {
  const wantCuda = env.INDETAIL_CUDA !== '0' && (hasCommand('nvcc') || !!env.CUDACXX);
  const archs = env.INDETAIL_CUDA_ARCHITECTURES || PREBUILD_CUDA_ARCHITECTURES;
  // `configure` always re-runs CMake with these options (`build` alone keeps a stale cache).
  const common = [
    '--directory', root, '--out', outDir, '--parallel', String(availableParallelism()),
    '--CDCMAKE_BUILD_TYPE=Release',
    // Set explicitly so that a stale cache or LDFLAGS cannot change the release link (cmake-js
    // drops empty values, hence a harmless flag).
    '--CDCMAKE_SHARED_LINKER_FLAGS=-Wl,-O1',
  ];
  if (wantCuda) common.push('--CDINDETAIL_CUDA=ON', `--CDCMAKE_CUDA_ARCHITECTURES=${archs}`);
  else common.push('--CDINDETAIL_CUDA=OFF');
  console.log(`prebuild: compiling ${wantCuda ? `CPU + CUDA (${archs})` : 'CPU only (no nvcc)'} in ${path.relative(root, outDir)}/`);
  const started = Date.now();
  const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
  for (const step of ['configure', 'build']) {
    const r = spawnSync(process.execPath, [cmakeJs, step, ...common], { stdio: 'inherit', cwd: root });
    if (r.status !== 0) throw new Error(`cmake-js ${step} failed (exit ${r.status})`);
  }
  console.log(`prebuild: compiled in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return { wantCuda, archs };
}

function install() {
  const built = path.join(outDir, 'Release', 'indetail.node');
  statSync(built);
  const dir = prebuildDir(root);
  mkdirSync(dir, { recursive: true });
  for (const f of readdirSync(dir)) if (f.endsWith('.node')) rmSync(path.join(dir, f));
  copyFileSync(built, target);
  if (hasCommand('strip')) {
    const s = spawnSync('strip', ['--strip-unneeded', target], { stdio: 'inherit' });
    if (s.status !== 0) throw new Error('strip failed');
  }
  console.log(`prebuild: wrote ${path.relative(root, target)} (${(statSync(target).size / 2 ** 20).toFixed(1)} MiB)`);
}

// npm runs a script named "prebuild" before "build" too. Find the script npm was asked to run
// (the command line of the npm process above us) so that `npm run build` does not start a
// release build of every CUDA architecture.
function requestedNpmScript() {
  let pid = process.ppid;
  for (let depth = 0; depth < 4 && pid > 1; depth++) {
    let words;
    try {
      words = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split(/[\0\s]+/).filter(Boolean);
    } catch {
      return null;
    }
    const k = words.findIndex((w) => w === 'run' || w === 'run-script');
    if (k > 0 && words.slice(0, k).some((w) => /(^|\/)npm(-cli\.js)?$/.test(w))) return words[k + 1] ?? null;
    pid = Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').at(-1).split(' ')[1]);
  }
  return null;
}

if (env.npm_lifecycle_event === 'prebuild') {
  const requested = requestedNpmScript();
  if (requested && requested !== 'prebuild') {
    console.log(`prebuild: skipped (npm runs "prebuild" before "${requested}"); run "npm run prebuild" to build the release addon`);
    process.exit(0);
  }
}

try {
  let expectCuda;
  let archs;
  if (!process.argv.includes('--verify-only')) {
    ({ wantCuda: expectCuda, archs } = build());
    install();
  }
  const report = verifyPrebuild(root, { expectCuda, architectures: archs });
  for (const line of report) console.log(`prebuild: ${line}`);
} catch (err) {
  console.error(`prebuild: ${err.message}`);
  process.exit(1);
}
