/**
 * The `baton` command line as a table: each command names its options (node:util parseArgs) and its
 * own usage, and `runProgram` does the rest the same way for every one of them — `--help` and
 * `--version` anywhere, exit 2 for a usage mistake, 1 for a failure, 0 for success.
 */

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';
import { StartupError, UsageError } from './errors.js';

type Options = NonNullable<ParseArgsConfig['options']>;

export interface Parsed {
  values: Record<string, string | boolean | string[] | boolean[] | undefined>;
  positionals: string[];
}

export interface Command {
  /** One line for `baton --help`. */
  summary: string;
  /** The synopsis lines (`baton replay --source … --event FILE`), shown in both helps. */
  usage: string[];
  /** Longer text for `baton <command> --help`: options, examples. */
  details?: string[];
  options?: Options;
  positionals?: boolean;
  /** Returns the exit code; throw UsageError for a usage mistake (exit 2), anything else is a failure (exit 1). */
  run(args: Parsed): Promise<number>;
}

export { StartupError, UsageError };

/** The version in package.json, found from src/cli (tsx) and dist/cli (built) alike. */
export function batonVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
  return pkg.version ?? 'unknown';
}

export interface Io {
  out(text: string): void;
  err(text: string): void;
}

const HELP_OPTIONS = { help: { type: 'boolean', short: 'h' }, version: { type: 'boolean', short: 'V' } } as const;

export function commandHelp(name: string, command: Command): string {
  return [`usage: ${command.usage.join('\n       ')}`, '', command.summary, ...(command.details ? ['', ...command.details] : []), '', 'Run `baton --help` for every command.'].join('\n');
}

export function programHelp(table: Readonly<Record<string, Command>>, defaultCommand: string): string {
  const width = Math.max(...Object.keys(table).map((k) => k.length));
  const lines = Object.entries(table).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return [
    'usage: baton [COMMAND] [OPTIONS]',
    '',
    `With no command, baton runs \`baton ${defaultCommand}\`. Settings come from the environment (docs/configuration.md).`,
    '',
    'Commands:',
    ...lines,
    '',
    'Options for every command:',
    '  -h, --help     show the command\'s help and exit',
    '  -V, --version  print the version and exit',
    '',
    'Exit codes: 0 done, 1 failed (a message says why), 2 the command was called wrongly.',
  ].join('\n');
}

function isParseArgsError(e: unknown): e is Error & { code: string } {
  const code = (e as { code?: unknown } | undefined)?.code;
  return e instanceof Error && typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_');
}

/** Run `argv` (without node and the script) against the table; resolves to the exit code, or -1 for "keep running" (serve). */
export async function runProgram(argv: string[], table: Readonly<Record<string, Command>>, defaultCommand: string, io: Io): Promise<number> {
  const first = argv[0];
  if (first === '--version' || first === '-V' || first === 'version') {
    io.out(batonVersion());
    return 0;
  }
  if (first === '--help' || first === '-h' || first === 'help') {
    const topic = argv[1];
    if (topic !== undefined && Object.hasOwn(table, topic)) io.out(commandHelp(topic, table[topic] as Command));
    else io.out(programHelp(table, defaultCommand));
    return 0;
  }
  const named = first !== undefined && !first.startsWith('-');
  const name = named ? first : defaultCommand;
  const rest = named ? argv.slice(1) : argv;
  if (!Object.hasOwn(table, name)) {
    io.err(`baton: unknown command ${JSON.stringify(name)}; the commands are ${Object.keys(table).join(', ')} (baton --help)`);
    return 2;
  }
  const command = table[name] as Command;
  let parsed: Parsed;
  try {
    // `--help` wins over anything else on the line, even a mistake: look for it before parsing strictly.
    const loose = parseArgs({ args: rest, options: { ...command.options, ...HELP_OPTIONS }, allowPositionals: true, strict: false });
    if (loose.values['help'] === true) {
      io.out(commandHelp(name, command));
      return 0;
    }
    if (loose.values['version'] === true) {
      io.out(batonVersion());
      return 0;
    }
    parsed = parseArgs({ args: rest, options: { ...command.options }, allowPositionals: command.positionals === true, strict: true }) as Parsed;
  } catch (e) {
    if (!isParseArgsError(e)) throw e;
    io.err(`baton ${name}: ${e.message}\nusage: ${command.usage.join('\n       ')}\n(baton ${name} --help)`);
    return 2;
  }
  try {
    return await command.run(parsed);
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`baton ${name}: ${e.message}\nusage: ${command.usage.join('\n       ')}\n(baton ${name} --help)`);
      return 2;
    }
    throw e;
  }
}
