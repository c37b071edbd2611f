#!/usr/bin/env node
/** The `baton` command. Holds no logic: each subcommand is a function in src/cli/. */

import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { jsonSchema } from './config/schema.js';
import { demoCurl, demoPreviewCurls } from './cli/embedded.js';
import { readDelivery, replay, sourceFor } from './cli/replay.js';
import { startBaton } from './cli/serve.js';
import { SettingsError, loadSettings } from './cli/settings.js';
import { validateFile, validateRepo } from './cli/validate.js';
import { createLogger, resolveEnvRepo } from './cli/serve.js';
import { formatFailed, listFailed, retryFailed } from './cli/failed.js';
import { findResyncSelections } from './app/resync.js';
import { oneShotPipeline } from './cli/serve.js';
import { sweep } from './app/sweeper.js';
import { runOperatorCommand } from './cli/commands.js';

const USAGE = `usage:
  baton serve                         run the webhook server (settings from the environment)
  baton validate [FILE]               check a .baton.yml (default ./.baton.yml)
  baton validate --repo               check BATON_ENV_REPO's .baton.yml and render every preview template
  baton replay --source registry:<kind>|argocd|flux --event FILE [--header K=V …] [--dry-run]
                                      run one stored delivery through Baton and print the plan
  baton resync [--dry-run]            list every configured image's tags and bump what its policy selects
  baton sweep [--dry-run]             remove previews of closed or idle merge requests, re-create missing ones
  baton schema [--out FILE]           print the JSON Schema of .baton.yml
  baton failed                        list events parked as dead letters, with the reason
  baton retry ID… | --all             work dead letters again (the running server picks it up)
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
      ...(baton.demoGithubSecret
        ? [
            'Open a preview environment: the registry announces the merge request build, then GitHub announces the merge request:',
            '',
            demoPreviewCurls(baton.url, baton.demoToken ?? '$BATON_REGISTRY_TOKEN', baton.demoGithubSecret),
            '',
            'Then see the preview Application Baton wrote:',
            `  git --git-dir ${gitDir} log -p -1 previews`,
            '',
          ]
        : []),
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
      const { positionals, values } = parseArgs({ args: rest, allowPositionals: true, options: { repo: { type: 'boolean' } } });
      let result: { ok: boolean; lines: string[] };
      if (values.repo) {
        const settings = loadSettings(process.env);
        const envRepo = await resolveEnvRepo(settings, process.env, createLogger(settings.LOG_LEVEL));
        result = await validateRepo(envRepo.forge, envRepo.repo, envRepo.label);
      } else result = await validateFile(positionals[0] ?? '.baton.yml');
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
          const what = o.status === 'committed' ? `committed ${o.commit}` : 'already up to date';
          console.log(`  ${o.branch}: ${what}${o.bumps.length ? ` (${o.bumps.map((b) => `${b.image} ${b.from ?? '∅'} → ${b.to} in ${b.env}`).join(', ')})` : ''}`);
        }
      }
      return run.notes.some((n) => n.message.startsWith('registry error')) ? 1 : 0;
    }
    case 'failed': {
      parseArgs({ args: rest, options: {} });
      const settings = loadSettings(process.env);
      const redis = settings.REDIS_URL ? { url: settings.REDIS_URL, prefix: settings.BATON_REDIS_PREFIX } : undefined;
      for (const line of formatFailed(await listFailed(settings.dataDir, Date.now(), redis))) console.log(line);
      return 0;
    }
    case 'retry': {
      const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { all: { type: 'boolean' } } });
      if (!values.all && positionals.length === 0) {
        console.error('usage: baton retry ID… | --all');
        return 2;
      }
      const settings = loadSettings(process.env);
      const redis = settings.REDIS_URL ? { url: settings.REDIS_URL, prefix: settings.BATON_REDIS_PREFIX } : undefined;
      const result = await retryFailed(settings.dataDir, values.all ? 'all' : positionals, redis);
      for (const id of result.unknown) console.error(`no failed event ${id}`);
      if (result.requested.length > 0 && redis) console.log(`${result.requested.length} event(s) put back in the shared queue; a running replica takes them now`);
      else if (result.requested.length > 0) console.log(`retry requested for ${result.requested.length} event(s); the running server takes them within a second, or the next start does`);
      else console.log('nothing to retry');
      return result.unknown.length > 0 ? 1 : 0;
    }
    case 'sweep': {
      const { values } = parseArgs({ args: rest, options: { 'dry-run': { type: 'boolean' } } });
      const settings = loadSettings(process.env);
      const { pipeline, envRepo, appRepos, logger } = await oneShotPipeline(settings, process.env);
      const report = await sweep(
        { forge: envRepo.forge, repo: envRepo.repo, table: () => pipeline.config.table(), appRepos, now: () => Date.now(), maxDeletes: settings.BATON_SWEEP_MAX_DELETES, logger, run: (intents) => pipeline.runIntents(intents) },
        { dryRun: values['dry-run'] === true },
      );
      const verb = values['dry-run'] ? 'would ' : '';
      for (const r of report.removed) console.log(`${verb}remove ${r.name} (!${r.number}, ${r.reason})`);
      for (const r of report.recreated) console.log(`${verb}re-create ${r.name} (!${r.number})`);
      for (const r of report.kept) console.log(`keep ${r.name} (!${r.number}, ${r.reason})`);
      for (const e of report.errors) console.error(`note: ${e}`);
      for (const o of report.outcomes) console.log(`${o.branch}: ${o.status === 'committed' ? `committed ${o.commit}` : o.status}${(o.previews ?? []).filter((p) => p.state === 'waiting' || p.state === 'invalid').map((p) => `; ${p.name}: ${p.message}`).join('')}`);
      return report.errors.length > 0 ? 1 : 0;
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
