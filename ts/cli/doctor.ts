// `indetail doctor`: what this installation found (backends, GPUs, build) and why CUDA is off.
import type { CommandModule } from 'yargs';
import { buildInfo, backends, devices } from '../system.js';
import { version } from '../version.js';

export interface DoctorReport {
  version: string;
  node: string;
  platform: string;
  backends: string[];
  devices: ReturnType<typeof devices>;
  build: ReturnType<typeof buildInfo>;
}

export function doctorReport(): DoctorReport {
  return {
    version,
    node: process.versions.node,
    platform: `${process.platform}-${process.arch}`,
    backends: backends(),
    devices: devices(),
    build: buildInfo(),
  };
}

function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
}

export function formatDoctor(r: DoctorReport): string {
  const lines = [
    `indetail ${r.version} on node ${r.node} (${r.platform})`,
    `backends: ${r.backends.join(', ')}`,
    `cpu: ${r.build.threads} threads, kernels: ${r.build.cpuFeatures}`,
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
  return lines.join('\n');
}

export const doctorCommand: CommandModule<object, { json?: boolean }> = {
  command: 'doctor',
  describe: 'Show the backends, GPUs and build this installation can use',
  builder: (y) => y.option('json', { type: 'boolean', describe: 'print the report as JSON' }).strict(),
  handler: (argv) => {
    const report = doctorReport();
    process.stdout.write(argv.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatDoctor(report)}\n`);
  },
};
