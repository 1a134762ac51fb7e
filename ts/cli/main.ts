#!/usr/bin/env node
// The indetail command line. Each command lives in its own module (a yargs CommandModule).
// Exit codes: 0 ok, 1 user error (bad input; no stack trace), 2 internal error.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { isUserError } from '../errors.js';
import { version } from '../version.js';
import { benchCommand } from './bench.js';
import { doctorCommand } from './doctor.js';
import { evalCommand } from './eval.js';
import { generateCommand } from './generate.js';
import { infoCommand } from './info.js';
import { serveCommand } from './serve.js';
import { workerCommand } from './worker.js';

export async function main(argv: string[]): Promise<number> {
  try {
    await yargs(argv)
      .scriptName('indetail')
      .parserConfiguration({ 'duplicate-arguments-array': false })
      .version(version)
      .command(generateCommand('variation'))
      .command(generateCommand('cross'))
      .command(generateCommand('structure'))
      .command(evalCommand)
      .command(infoCommand)
      .command(doctorCommand)
      .command(benchCommand)
      .command(serveCommand)
      .command(workerCommand)
      .demandCommand(1, 'Name a command (see --help).')
      .strict()
      .fail((msg, err) => {
        if (err) throw err;
        process.stderr.write(`${msg}\nRun "indetail --help" for usage.\n`);
        process.exitCode = 1;
      })
      .help()
      .parseAsync();
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (isUserError(err)) {
      process.stderr.write(`indetail: ${(err as Error).message}\n`);
      return 1;
    }
    process.stderr.write(`indetail: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
    return 2;
  }
}

process.exitCode = await main(hideBin(process.argv));
