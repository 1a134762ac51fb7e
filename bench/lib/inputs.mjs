// Input pictures for benchmarks: the fixtures' synthetic images.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export function fixturesRootImage(name) {
  return path.join(root, process.env.INDETAIL_FIXTURES ?? 'test/fixtures', 'golden', name);
}
