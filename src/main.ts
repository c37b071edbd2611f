#!/usr/bin/env node
/** The `baton` command. Holds no logic: each subcommand is a function in src/cli/. */

import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { jsonSchema } from './config/schema.js';
import { demoCurl } from './cli/embedded.js';
import { readDelivery, replay, sourceFor } from './cli/replay.js';
import { startBaton } from './cli/serve.js';
import { SettingsError, loadSettings } from './cli/settings.js';
import { validateFile } from './cli/validate.js';
import { findResyncSelections } from './app/resync.js';
import { oneShotPipeline } from './cli/serve.js';
import { runOperatorCommand } from './cli/commands.js';

const USAGE = `usage:
  baton serve                         run the webhook server (settings from the environment)
  baton validate [FILE]               check a .baton.yml (default ./.baton.yml)
  baton replay --source registry:<kind> --event FILE [--header K=V …] [--dry-run]
                                      run one stored delivery through Baton and print the plan
  baton resync [--dry-run]            list every configured image's tags and bump what its policy selects
  baton schema [--out FILE]           print the JSON Schema of .baton.yml
  baton status | diff <env> [image…]
  baton promote <env> [image…] --as NAME
  baton rollback <env> [image] [to <version>] --as NAME
  baton pause|resume <env> [image] --as NAME
                                      the /baton commands, for operators (docs/chatops.md)`;

async function serve(): Promise<void> {
  const settings = loadSettings(process.env);
  const baton = await startBaton({ settings, env: process.env });
  if (baton.envRepo.embedded) {
    const gitDir = baton.envRepo.repo;
    const lines = [
      '',
      'Baton is running on its embedded default: a local env repo and an in-process queue.',
      `  env repo:  ${gitDir}`,
      ...(baton.demoToken ? [`  registry token (demo): ${baton.demoToken}`] : []),
      '',
      'Send a first image-pushed event:',
      '',
      demoCurl(baton.url, baton.demoToken ?? '$BATON_REGISTRY_TOKEN'),
      '',
      `Then, after BATON_DEBOUNCE_MS (${settings.BATON_DEBOUNCE_MS} ms), see the commit:`,
      `  git --git-dir ${gitDir} log -p -1 main`,
      '',
    ];
    process.stdout.write(lines.join('\n') + '\n');
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      baton.logger.warn({ signal }, 'second signal: exiting without draining');
      process.exit(1);
    }
    stopping = true;
    baton.logger.info({ signal }, 'draining: finishing queued work before exit');
    baton.close().then(
      () => {
        baton.logger.info('drained; bye');
        process.exit(0);
      },
      (err: unknown) => {
        baton.logger.error({ err }, 'drain failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
    case undefined:
      await serve();
      return -1;
    case 'validate': {
      const { positionals } = parseArgs({ args: rest, allowPositionals: true });
      const result = await validateFile(positionals[0] ?? '.baton.yml');
      for (const l of result.lines) (result.ok ? console.log : console.error)(l);
      return result.ok ? 0 : 1;
    }
    case 'schema': {
      const { values } = parseArgs({ args: rest, options: { out: { type: 'string' } } });
      const text = JSON.stringify(jsonSchema(), null, 2) + '\n';
      if (values.out) await writeFile(values.out, text);
      else process.stdout.write(text);
      return 0;
    }
    case 'replay': {
      const { values } = parseArgs({
        args: rest,
        options: { source: { type: 'string' }, event: { type: 'string' }, header: { type: 'string', multiple: true }, 'dry-run': { type: 'boolean' } },
      });
      if (!values.source || !values.event) {
        console.error(USAGE);
        return 2;
      }
      const source = sourceFor(values.source);
      if (!source) {
        console.error(`unknown source ${values.source}`);
        return 2;
      }
      const { pipeline, envRepo } = await oneShotPipeline(loadSettings(process.env), process.env);
      const { delivery, body } = await readDelivery(values.event, values.header ?? [], new Date());
      const report = await replay(source, delivery, body, pipeline, envRepo.forge, envRepo.repo, values['dry-run'] === true);
      for (const n of report.notes) console.error(`note: ${n}`);
      process.stdout.write(report.diff);
      for (const s of report.summary) console.error(s);
      return 0;
    }
    case 'resync': {
      const { values } = parseArgs({ args: rest, options: { 'dry-run': { type: 'boolean' } } });
      const { pipeline, registry } = await oneShotPipeline(loadSettings(process.env), process.env);
      const run = await findResyncSelections(pipeline.config, registry, new Date().toISOString());
      for (const n of run.notes) console.error(`${n.image}: ${n.message}`);
      for (const e of run.selections) {
        console.log(`${e.registry}/${e.repository}: newest accepted tag ${e.tag}${e.digest ? `@${e.digest}` : ''}`);
        const done = await pipeline.runNow(e, { dryRun: values['dry-run'] === true });
        for (const n of done.notes) console.error(`  note: ${n}`);
        for (const o of done.outcomes) {
          const what = o.status === 'committed' ? `committed ${o.commit}` : o.status === 'failed' ? `failed: ${o.error}` : 'already up to date';
          console.log(`  ${o.branch}: ${what}${o.bumps.length ? ` (${o.bumps.map((b) => `${b.image} ${b.from ?? '∅'} → ${b.to} in ${b.env}`).join(', ')})` : ''}`);
        }
      }
      return run.notes.some((n) => n.message.startsWith('registry error')) ? 1 : 0;
    }
    case 'status':
    case 'diff':
    case 'deploy':
    case 'promote':
    case 'rollback':
    case 'pause':
    case 'resume': {
      const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { as: { type: 'string' } } });
      const settings = loadSettings(process.env);
      const { pipeline, envRepo, logger } = await oneShotPipeline(settings, process.env);
      const run = await runOperatorCommand([command, ...positionals], values.as, pipeline, envRepo, logger, () => Date.now());
      for (const l of run.err) console.error(l);
      if (run.out.length > 0) console.log(run.out.join('\n'));
      return run.code;
    }
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE);
      return 0;
    default:
      console.error(`unknown command ${command}\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    if (err instanceof SettingsError) console.error(`invalid settings: ${err.message}`);
    else console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
