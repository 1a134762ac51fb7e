// Which backends this machine can test. GPU suites call cudaSkipReason() and skip with it.
import { backends, buildInfo } from '../../dist/index.js';

export function cudaSkipReason() {
  if (backends().includes('cuda')) return null;
  const why = buildInfo().cudaUnavailableReason;
  return `skipped: no CUDA device (${why})`;
}
