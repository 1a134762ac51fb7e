#!/usr/bin/env node
// Installs the native addon: uses a prebuilt binary from prebuilds/<platform>-<arch>/ when one
// loads here, otherwise compiles from source with cmake-js (CUDA included when nvcc is found).
//
//   --from-source / INDETAIL_BUILD_FROM_SOURCE=1   always compile
//   PREBUILDS_ONLY=1                               never compile; fail if no prebuild loads
//   INDETAIL_CUDA=0                                compile without CUDA even if nvcc exists
//   INDETAIL_CUDA_ARCHITECTURES="90"               CUDA architectures (default 80;86;89;90 + PTX)
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const env = process.env;
const fromSource =
  process.argv.includes('--from-source') ||
  env.INDETAIL_BUILD_FROM_SOURCE === '1' ||
  env.npm_config_build_from_source === 'true';

if (!fromSource) {
  try {
    const addonPath = require('node-gyp-build').path(root);
    require(addonPath);
    console.log(`indetail: using the native addon at ${path.relative(root, addonPath)}`);
    process.exit(0);
  } catch (err) {
    if (env.PREBUILDS_ONLY === '1') {
      console.error(`indetail: no prebuilt binary loads on ${process.platform}-${process.arch} and PREBUILDS_ONLY=1 forbids compiling: ${err.message}`);
      process.exit(1);
    }
  }
}

let cmakeJs;
try {
  cmakeJs = require.resolve('cmake-js/bin/cmake-js');
} catch {
  console.error('indetail: cmake-js is missing; run npm install again (it is a dependency) or install a prebuilt package');
  process.exit(1);
}

const args = [cmakeJs, 'build', '--directory', root, '--parallel', String(availableParallelism())];
if (env.INDETAIL_CUDA === '0') args.push('--CDINDETAIL_CUDA=OFF');
if (env.INDETAIL_CUDA_ARCHITECTURES) args.push(`--CDCMAKE_CUDA_ARCHITECTURES=${env.INDETAIL_CUDA_ARCHITECTURES}`);
console.log('indetail: compiling the native addon from source (cmake-js)');
const started = Date.now();
const result = spawnSync(process.execPath, args, { stdio: 'inherit', cwd: root });
if (result.status !== 0) {
  console.error('indetail: building the native addon failed. It needs CMake >= 3.18 and a C++17 compiler (and optionally nvcc for the CUDA backend).');
  process.exit(result.status ?? 1);
}
console.log(`indetail: native addon built in ${((Date.now() - started) / 1000).toFixed(0)} s`);
