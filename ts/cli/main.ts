#!/usr/bin/env node
// The indetail command line. Each command lives in its own module (a yargs CommandModule).
// Exit codes: 0 ok, 1 user error (one message, no stack trace; nothing runs after a bad command
// line), 2 internal error, 130 / 143 interrupted by SIGINT / SIGTERM.
import yargs, { type CommandModule } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { IndetailError, isUserError } from '../errors.js';
import { closestKey } from '../known-keys.js';
import { version } from '../version.js';
import { benchCommand } from './bench.js';
import { doctorCommand } from './doctor.js';
import { evalCommand } from './eval.js';
import { generateCommand } from './generate.js';
import { infoCommand } from './info.js';
import { serveCommand } from './serve.js';
import { workerCommand } from './worker.js';

const commands: CommandModule<object, never>[] = [
  generateCommand('variation'),
  generateCommand('cross'),
  generateCommand('structure'),
  evalCommand,
  infoCommand,
  doctorCommand,
  benchCommand,
  serveCommand,
  workerCommand,
] as unknown as CommandModule<object, never>[];
const commandNames = commands.map((c) => String(c.command).split(' ')[0]!);

/** yargs' "Unknown argument(s): a, b" with the closest known flag (or command) suggested for each. */
function withSuggestions(message: string, argv: string[], flags: readonly string[]): string {
  const m = /^Unknown arguments?: (.*)$/s.exec(message);
  if (!m) return message;
  const unknown = m[1]!.split(', ').map((arg) => {
    const positional = argv.includes(arg);
    const shown = positional ? `'${arg}'` : `--${arg}`;
    const near = closestKey(arg, positional ? commandNames : flags);
    return near === undefined ? shown : `${shown} (did you mean ${positional ? near : `--${near}`}?)`;
  });
  return `Unknown ${unknown.length === 1 ? 'argument' : 'arguments'}: ${unknown.join(', ')}`;
}

export async function main(argv: string[]): Promise<number> {
  const parser = yargs(argv);
  try {
    for (const c of commands) parser.command(c);
    await parser
      .scriptName('indetail')
      .parserConfiguration({ 'duplicate-arguments-array': false })
      .version(version)
      .demandCommand(1, 'Name a command (see --help).')
      .strict()
      .fail((msg, err) => {
        // Throwing stops yargs: a bad command line never reaches a command's handler.
        if (err && err.name !== 'YError') throw err;
        const flags = Object.keys((parser as unknown as { getOptions(): { key: Record<string, unknown> } }).getOptions().key);
        throw new IndetailError('ERR_INDETAIL_INVALID_ARGUMENT', `${withSuggestions(msg ?? err?.message ?? 'invalid command line', argv, flags)}\nRun "indetail --help" for usage.`);
      })
      .help()
      .parseAsync();
    return 0;
  } catch (err) {
    const exitCode = (err as { exitCode?: unknown }).exitCode;
    if (isUserError(err)) {
      process.stderr.write(`indetail: ${(err as Error).message}\n`);
      return typeof exitCode === 'number' ? exitCode : 1;
    }
    process.stderr.write(`indetail: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
    return typeof exitCode === 'number' ? exitCode : 2;
  }
}

process.exitCode = await main(hideBin(process.argv));
