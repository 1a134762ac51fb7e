// Where the prebuilt addon lives and how it is checked (used by prebuild.mjs and the
// pack-install test).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';

// Real code for Ampere, Ada and Hopper, plus PTX for anything newer (JIT by the driver).
// No sm_75 (Turing): the tensor-core GEMM and flash-attention kernels use cp.async, which needs
// sm_80 (ptxas refuses it for sm_75), and the device probe requires compute capability 8.0.
// Keep in step with the README's GPU requirements.
export const PREBUILD_CUDA_ARCHITECTURES = '80-real;86-real;89-real;90-real;90-virtual';

export function prebuildDir(root) {
  return path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
}

// node-gyp-build tags: "napi" (any Node-API runtime: Node and Electron), "glibc" (skipped on musl).
export function prebuildFile(root) {
  return path.join(prebuildDir(root), 'indetail.napi.glibc.node');
}

function tool(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).stdout.trim() || null;
}

// The ELF facts that make a binary portable: what it needs at load time and where it looks.
export function elfFacts(file) {
  if (!tool('readelf')) return null;
  const dyn = execFileSync('readelf', ['-d', file], { encoding: 'utf8' });
  const needed = [...dyn.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
  const runpath = /\((?:RUNPATH|RPATH)\)\s+Library (?:runpath|rpath): \[([^\]]*)\]/.exec(dyn)?.[1] ?? '';
  const syms = execFileSync('readelf', ['--dyn-syms', '-W', file], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const newest = (prefix) => {
    const versions = [...new Set([...syms.matchAll(new RegExp(`@${prefix}_(\\d+(?:\\.\\d+)*)`, 'g'))].map((m) => m[1]))];
    versions.sort((a, b) => {
      const x = a.split('.').map(Number);
      const y = b.split('.').map(Number);
      for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
      return 0;
    });
    return versions.at(-1) ?? null;
  };
  const exported = [...syms.matchAll(/^\s*\d+:\s+\S+\s+\d+\s+FUNC\s+GLOBAL\s+DEFAULT\s+\d+\s+(\S+)/gm)].map((m) => m[1]);
  return { needed, runpath, maxGlibc: newest('GLIBC'), maxGlibcxx: newest('GLIBCXX'), exported };
}

// The fatbins embedded in the binary, read directly: each starts with the magic 0xBA55ED50
// (u16 version, u16 header size, u64 size); each entry has u16 kind (1 PTX, 2 ELF/SASS),
// u16 version, u32 header size, u64 padded payload size, ..., u32 SM version at offset 28.
function scanFatbins(file) {
  const buf = readFileSync(file);
  const elf = new Set();
  const ptx = new Set();
  for (let at = buf.indexOf(Buffer.from([0x50, 0xed, 0x55, 0xba])); at >= 0; at = buf.indexOf(Buffer.from([0x50, 0xed, 0x55, 0xba]), at + 4)) {
    if (at + 16 > buf.length || buf.readUInt16LE(at + 6) !== 16) continue;
    const end = at + 16 + Number(buf.readBigUInt64LE(at + 8));
    for (let e = at + 16; e + 32 <= Math.min(end, buf.length); ) {
      const kind = buf.readUInt16LE(e);
      const headerSize = buf.readUInt32LE(e + 4);
      const payload = Number(buf.readBigUInt64LE(e + 8));
      const sm = buf.readUInt32LE(e + 28);
      if ((kind !== 1 && kind !== 2) || headerSize < 32 || sm < 10 || sm > 200) break;
      (kind === 1 ? ptx : elf).add(`sm_${sm}`);
      e += headerSize + payload;
    }
  }
  return { elf: [...elf].sort(), ptx: [...ptx].sort() };
}

// SASS and PTX in the binary's fatbin, e.g. { elf: ['sm_80', ...], ptx: ['sm_90'] }: cuobjdump's
// listing where it is installed, else the binary's own fatbin headers.
export function cudaCode(file) {
  const nvcc = tool('nvcc');
  const candidates = [tool('cuobjdump'), nvcc && path.join(path.dirname(realpathSync(nvcc)), 'cuobjdump'), '/usr/local/cuda/bin/cuobjdump'];
  const cuobjdump = candidates.find((c) => c && existsSync(c));
  if (!cuobjdump) return { ...scanFatbins(file), source: 'fatbin headers' };
  const list = (flag) => {
    const r = spawnSync(cuobjdump, [flag, file], { encoding: 'utf8', maxBuffer: 64 << 20 });
    return [...new Set([...(r.stdout ?? '').matchAll(/\.(sm_\d+a?)\./g)].map((m) => m[1]))].sort();
  };
  return { elf: list('--list-elf'), ptx: list('--list-ptx'), source: 'cuobjdump' };
}

// Loads the prebuild with node-gyp-build exactly as an installed package does (PREBUILDS_ONLY=1,
// so build/Release is ignored) in a fresh process, and runs a tensor round trip on the CPU.
export function loadThroughNodeGypBuild(root) {
  const script = `
    const ngb = require('node-gyp-build');
    const file = ngb.path(${JSON.stringify(root)});
    const a = require(file);
    const e = new a.Engine('cpu');
    const back = Array.from(e.tensor(new Float32Array([1.5, -2, 3]), [3]).readSync());
    console.log(JSON.stringify({ file, info: a.buildInfo(), backends: a.backends(), back }));`;
  const r = spawnSync(process.execPath, ['-e', script], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, PREBUILDS_ONLY: '1', INDETAIL_DISABLE_CUDA: '1' },
  });
  if (r.status !== 0) throw new Error(`node-gyp-build could not load the prebuild:\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1));
}

const CUDA_LIBS = /libcuda|libcudart|libnvrtc|libcublas/;
// What a Linux system is expected to have; anything else would have to ship beside the addon.
const SYSTEM_LIBS = /^(libc|libm|libdl|libpthread|librt|ld-linux-x86-64|libstdc\+\+|libgcc_s)\.so\.\d+$/;

// Checks a prebuild; returns report lines, throws on the first broken rule.
export function verifyPrebuild(root, { expectCuda, architectures } = {}) {
  const file = prebuildFile(root);
  if (!existsSync(file)) throw new Error(`${path.relative(root, file)} does not exist; run npm run prebuild`);
  const lines = [`${path.relative(root, file)}: ${(statSync(file).size / 2 ** 20).toFixed(1)} MiB`];
  const elf = elfFacts(file);
  if (elf) {
    for (const lib of elf.needed) {
      if (CUDA_LIBS.test(lib)) throw new Error(`the prebuild needs ${lib}; the CUDA runtime must be linked statically`);
      if (!SYSTEM_LIBS.test(lib)) throw new Error(`the prebuild needs ${lib}, which is not a system library`);
    }
    if (!elf.runpath.split(':').includes('$ORIGIN')) throw new Error(`the prebuild's RUNPATH is '${elf.runpath}', expected $ORIGIN`);
    const leaked = elf.exported.filter((s) => !/^napi_register_module_v\d+$|^node_api_module_get_api_version_v\d+$/.test(s));
    if (leaked.length > 0) throw new Error(`the prebuild exports ${leaked.length} symbols besides the Node-API entry points (e.g. ${leaked.slice(0, 3).join(', ')})`);
    lines.push(`NEEDED: ${elf.needed.join(', ')}; RUNPATH ${elf.runpath}; exports: ${elf.exported.join(', ')}`);
    lines.push(`needs glibc >= ${elf.maxGlibc}${elf.maxGlibcxx ? ` and libstdc++ with GLIBCXX_${elf.maxGlibcxx}` : ''} (newest symbol versions it uses)`);
  } else {
    lines.push('readelf not found: ELF checks skipped');
  }
  const loaded = loadThroughNodeGypBuild(root);
  if (path.resolve(loaded.file) !== path.resolve(file)) throw new Error(`node-gyp-build picked ${loaded.file} instead of ${file}`);
  if (JSON.stringify(loaded.back) !== JSON.stringify([1.5, -2, 3])) throw new Error(`tensor round trip returned ${JSON.stringify(loaded.back)}`);
  const info = loaded.info;
  if (expectCuda !== undefined && info.cudaCompiled !== expectCuda) throw new Error(`cudaCompiled is ${info.cudaCompiled}, expected ${expectCuda}`);
  lines.push(`node-gyp-build loads it (PREBUILDS_ONLY=1): version ${info.version}, Node-API ${info.napiVersion}, cpu kernels ${info.cpuFeatures}, cuda ${info.cudaCompiled ? `compiled (runtime ${info.cudaRuntimeVersion}, ${info.cudaArchitectures})` : 'not compiled'}`);
  if (info.cudaCompiled) {
    const code = cudaCode(file);
    for (const a of (architectures ?? info.cudaArchitectures).split(/[;,]/).filter(Boolean)) {
      const m = /^(\d+)(?:-(real|virtual))?$/.exec(a);
      if (!m) continue;
      const sm = `sm_${m[1]}`;
      if (m[2] !== 'virtual' && !code.elf.includes(sm)) throw new Error(`no ${sm} code in the fatbin (found ${code.elf.join(', ')})`);
      if (m[2] !== 'real' && !code.ptx.includes(sm)) throw new Error(`no compute_${m[1]} PTX in the fatbin (found ${code.ptx.join(', ')})`);
    }
    lines.push(`fatbin (${code.source}): SASS ${code.elf.join(', ')}; PTX ${code.ptx.join(', ') || 'none'}`);
  }
  return lines;
}
