#!/usr/bin/env node
// Benchmark runner: node bench/run.mjs [suite ...] [--quick] [--json FILE] [--backend cpu|cuda] [--svg-dir DIR]
// Prints a table per suite and writes all results as JSON (default bench/out/results.json).
// Benchmarks measure; they never assert speed (targets are checked by reading the output).
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { formatTable, machineInfo, writeJson } from './lib/report.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const valueOf = (flag) => {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
};
const valueIdx = new Set(['--json', '--backend', '--svg-dir'].map((f) => args.indexOf(f)).filter((i) => i >= 0).map((i) => i + 1));
const jsonFile = valueOf('--json') ?? path.join(here, 'out', 'results.json');
const backendsWanted = valueOf('--backend')?.split(',') ?? null;
const svgDir = valueOf('--svg-dir') ?? path.join(here, 'out');
const wanted = args.filter((a, i) => !a.startsWith('--') && !valueIdx.has(i));

const suites = [];
for (const file of readdirSync(path.join(here, 'suites')).filter((f) => f.endsWith('.mjs')).sort()) {
  suites.push(await import(pathToFileURL(path.join(here, 'suites', file)).href));
}
const selected = wanted.length ? suites.filter((s) => wanted.includes(s.name)) : suites.filter((s) => !s.explicitOnly);
const unknown = wanted.filter((w) => !suites.some((s) => s.name === w));
if (unknown.length) {
  console.error(`unknown suite(s): ${unknown.join(', ')}; known: ${suites.map((s) => s.name).join(', ')}`);
  process.exit(1);
}

const results = { machine: machineInfo(), date: new Date().toISOString(), suites: {} };
console.log(`machine: ${JSON.stringify(results.machine)}`);
for (const s of selected) {
  console.log(`\n== ${s.name}: ${s.description}`);
  const r = await s.run({ quick, backends: backendsWanted, svgPath: path.join(svgDir, `${s.name}.svg`) });
  if (r.skipped) {
    console.log(`skipped: ${r.skipped}`);
  } else {
    console.log(formatTable(r.rows, r.columns));
    for (const n of r.notes ?? []) console.log(`note: ${n}`);
  }
  results.suites[s.name] = r;
}
writeJson(jsonFile, results);
console.log(`\nresults written to ${path.relative(process.cwd(), jsonFile)}`);
