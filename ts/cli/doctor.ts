// `indetail doctor`: what this installation found (backends, GPUs, build) and why CUDA is off.
import { createRequire } from 'node:module';
import path from 'node:path';
import type { CommandModule } from 'yargs';
import { probeCuda } from '../backend-select.js';
import { packageRoot } from '../native/addon.js';
import { cpuHasBf16 } from '../precision.js';
import { buildInfo, backends, devices } from '../system.js';
import { version } from '../version.js';

export interface DoctorReport {
  version: string;
  node: string;
  platform: string;
  backends: string[];
  devices: ReturnType<typeof devices>;
  build: ReturnType<typeof buildInfo>;
  /** The native binary that was loaded, and whether it is a prebuilt one or compiled here. */
  addon: { path: string; kind: 'prebuilt' | 'compiled' };
  /** What backend 'auto' picks, and why when it is the CPU. */
  auto: { backend: 'cuda' | 'cpu'; reason: string };
  /** Environment variables that change what indetail does (only those set). */
  environment: Record<string, string>;
}

const ENVIRONMENT = ['INDETAIL_DISABLE_CUDA', 'INDETAIL_FORCE_CUDA_PROBE_FAILURE', 'INDETAIL_THREADS', 'INDETAIL_CPU_LEVEL', 'CUDA_VISIBLE_DEVICES', 'INDETAIL_PREBUILD', 'PREBUILDS_ONLY'];

function addonFile(): DoctorReport['addon'] {
  const require = createRequire(import.meta.url);
  const file = (require('node-gyp-build') as { path(dir: string): string }).path(packageRoot);
  return { path: file, kind: file.split(path.sep).includes('prebuilds') ? 'prebuilt' : 'compiled' };
}

export function doctorReport(): DoctorReport {
  const build = buildInfo();
  const list = backends();
  const environment: Record<string, string> = {};
  for (const k of ENVIRONMENT) if (process.env[k] !== undefined) environment[k] = process.env[k]!;
  return {
    version,
    node: process.versions.node,
    platform: `${process.platform}-${process.arch}`,
    backends: list,
    devices: devices(),
    build,
    addon: addonFile(),
    auto: list.includes('cuda') ? { backend: 'cuda', reason: '' } : { backend: 'cpu', reason: build.cudaUnavailableReason },
    environment,
  };
}

function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
}

export function formatDoctor(r: DoctorReport): string {
  const lines = [
    `indetail ${r.version} on node ${r.node} (${r.platform})`,
    `addon: ${r.addon.path} (${r.addon.kind})`,
    `backends: ${r.backends.join(', ')}`,
    `cpu: ${r.build.threads} threads, kernels: ${r.build.cpuFeatures}${r.build.cpuLevelDetected !== r.build.cpuFeatures ? ` (the CPU offers ${r.build.cpuLevelDetected})` : ''}, precision 'auto' for full-size models: ${cpuHasBf16() ? 'bf16' : 'f32'}`,
    `cuda: ${r.build.cudaCompiled ? `compiled (runtime ${r.build.cudaRuntimeVersion ?? '?'}, ${r.build.cudaArchitectures ?? '?'})` : 'not compiled'}`,
  ];
  if (r.devices.length === 0) {
    lines.push(`gpu: none usable${r.build.cudaUnavailableReason ? ` — ${r.build.cudaUnavailableReason}` : ''}`);
  } else {
    for (const d of r.devices) {
      lines.push(`gpu ${d.index}: ${d.name}, compute capability ${d.computeCapability}, ${gib(d.totalMemory)} (${gib(d.freeMemory)} free), ${d.multiprocessors} SMs`);
    }
    if (r.build.cudaUnavailableReason) lines.push(`cuda unusable: ${r.build.cudaUnavailableReason}`);
  }
  lines.push(
    r.auto.backend === 'cuda'
      ? `backend 'auto' uses: cuda (device query and self-test kernel passed on ${r.devices.length === 1 ? 'the GPU' : `all ${r.devices.length} GPUs`})`
      : `backend 'auto' uses: cpu — ${r.auto.reason}`,
  );
  if (r.build.cpuLevelProblem) lines.push(`warning: ${r.build.cpuLevelProblem}`);
  const env = Object.entries(r.environment);
  if (env.length > 0) lines.push(`environment: ${env.map(([k, v]) => `${k}=${v}`).join(' ')}`);
  return lines.join('\n');
}

export const doctorCommand: CommandModule<object, { json?: boolean }> = {
  command: 'doctor',
  describe: 'Show the backends, GPUs and build this installation can use',
  builder: (y) => y.option('json', { type: 'boolean', describe: 'print the report as JSON' }).strict(),
  handler: async (argv) => {
    await probeCuda(); // the device probe and self-test, off the JavaScript thread
    const report = doctorReport();
    process.stdout.write(argv.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatDoctor(report)}\n`);
  },
};
