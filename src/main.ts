#!/usr/bin/env node
/**
 * The `baton` command: a table of commands, each a thin entry calling a function in src/cli/.
 * Parsing, help, --version and exit codes are src/cli/program.ts's, the same for every command.
 */

import { USAGE as COMMAND_USAGE } from './core/commands/parse.js';
import { REGISTRY_KINDS } from './sources/registry/index.js';
import { StartupError, UsageError, runProgram } from './cli/program.js';
import type { Command, Parsed } from './cli/program.js';

// Each command loads what it needs when it runs, so `baton --help` and `--version` answer at once.
const cli = {
  commands: () => import('./cli/commands.js'),
  failed: () => import('./cli/failed.js'),
  replay: () => import('./cli/replay.js'),
  resync: () => import('./cli/resync.js'),
  serve: () => import('./cli/serve.js'),
  serveCommand: () => import('./cli/serve-command.js'),
  start: () => import('./cli/start.js'),
  validate: () => import('./cli/validate.js'),
};

/** The /baton commands an operator runs at a shell (src/cli/commands.ts runs them). */
const OPERATOR_COMMANDS = ['status', 'diff', 'deploy', 'promote', 'rollback', 'pause', 'resume'] as const;
const REPLAY_SOURCES = ['github', 'gitlab', 'argocd', 'flux', ...REGISTRY_KINDS.map((k) => `registry:${k}`)];

const env = process.env;
const print = (lines: string[]): void => {
  if (lines.length > 0) console.log(lines.join('\n'));
};

/** `baton status`, `baton promote …`: the /baton commands for operators (docs/chatops.md). */
async function operator(name: string, { values, positionals }: Parsed): Promise<number> {
  const [{ settingsFrom }, { oneShotPipeline }, { runOperatorCommand }] = await Promise.all([cli.start(), cli.serve(), cli.commands()]);
  const settings = settingsFrom(env);
  const { pipeline, envRepo, logger } = await oneShotPipeline(settings, env);
  const run = await runOperatorCommand([name, ...positionals], values['as'] as string | undefined, pipeline, envRepo, logger, () => Date.now());
  for (const l of run.err) console.error(l);
  print(run.out);
  return run.code;
}

const OPERATOR_SUMMARIES: Record<string, string> = {
  diff: 'what promoting <env> would change',
  deploy: 'deploy images to <env> (from a merge request: its build)',
  promote: '<env> takes the versions its promoteFrom environment runs',
  rollback: 'go back to the previous (or a given) version in <env>',
  pause: 'stop automatic bumps in <env>',
  resume: 'start automatic bumps in <env> again',
};

const operatorCommand = (name: (typeof OPERATOR_COMMANDS)[number], summary: string): Command => ({
  summary,
  usage: [`${COMMAND_USAGE[name].replace(/^\/baton/, 'baton')}${name === 'status' || name === 'diff' ? '' : ' --as NAME'}`],
  details: ['The same command as `/baton ' + name + '` in a merge-request comment (docs/chatops.md); --as names who acts, for the audit trail.'],
  options: { as: { type: 'string' } },
  positionals: true,
  run: (args) => operator(name, args),
});

const COMMANDS: Record<string, Command> = {
  serve: {
    summary: 'run the webhook server (the default command)',
    usage: ['baton [serve]'],
    details: [
      'Settings come from the environment (README "Settings", docs/configuration.md). Without BATON_ENV_REPO',
      'and without any forge setting, Baton runs its embedded demo and prints a first curl to try.',
      'A misspelt BATON_* setting, a busy port or an env repository that cannot be read stops it with exit 1.',
    ],
    run: async () => (await cli.serveCommand()).serveCommand(env),
  },
  validate: {
    summary: 'check a .baton.yml (default ./.baton.yml), or the env repository it lives in',
    usage: ['baton validate [FILE]', 'baton validate --repo [DIR]'],
    details: [
      'FILE            check this file: schema, names, ranges; messages point at file:line:column',
      '--repo DIR      check DIR/.baton.yml in a local checkout of the env repository, and that every',
      '                target file exists and mentions its image',
      '--repo          check BATON_ENV_REPO\'s .baton.yml and render every preview template',
      'Exit 0 when valid, 1 with one message per problem.',
    ],
    options: { repo: { type: 'boolean' } },
    positionals: true,
    async run({ values, positionals }) {
      if (positionals.length > 1) throw new UsageError(`one file at a time (got ${positionals.length})`);
      const { validateCheckout, validateFile, validateRepo } = await cli.validate();
      let result: { ok: boolean; lines: string[] };
      if (values['repo'] && positionals[0] !== undefined) result = await validateCheckout(positionals[0]);
      else if (values['repo']) {
        const [{ settingsFrom, envRepoFrom }, { createLogger }] = await Promise.all([cli.start(), cli.serve()]);
        const settings = settingsFrom(env);
        const envRepo = await envRepoFrom(settings, env, createLogger(settings.LOG_LEVEL));
        result = await validateRepo(envRepo.forge, envRepo.repo, envRepo.label);
      } else result = await validateFile(positionals[0] ?? '.baton.yml');
      for (const l of result.lines) (result.ok ? console.log : console.error)(l);
      return result.ok ? 0 : 1;
    },
  },
  replay: {
    summary: 'run one stored delivery through Baton and print the plan as a diff',
    usage: ['baton replay --source NAME --event FILE [--header K=V …] [--dry-run]'],
    details: [
      `--source NAME   the webhook it came to: ${REPLAY_SOURCES.join(', ')}`,
      '--event FILE    the delivery body (JSON), as the sender posted it',
      '--header K=V    a delivery header, e.g. X-GitHub-Event=pull_request or X-Gitlab-Event=Pipeline Hook',
      '--dry-run       print the diff (digests resolved as a real run does) and write nothing',
      'Authenticity is not checked: the file is yours. Everything after that is the server\'s code.',
    ],
    options: { source: { type: 'string' }, event: { type: 'string' }, header: { type: 'string', multiple: true }, 'dry-run': { type: 'boolean' } },
    async run({ values }) {
      const name = values['source'] as string | undefined;
      const file = values['event'] as string | undefined;
      if (!name || !file) throw new UsageError(`${!name ? '--source' : '--event'} is required`);
      const [{ readDelivery, replay, replaySourceNames, sourceFor }, { settingsFrom }, { oneShotPipeline }] = await Promise.all([cli.replay(), cli.start(), cli.serve()]);
      const source = sourceFor(name, env);
      if (!source) throw new UsageError(`unknown source ${JSON.stringify(name)}; the sources are ${replaySourceNames().join(', ')}`);
      const settings = settingsFrom(env);
      const { delivery, body } = await readDelivery(file, (values['header'] as string[] | undefined) ?? [], new Date()).catch((e: unknown) => {
        throw new StartupError(`${file}: ${(e as Error).message}`);
      });
      const { pipeline, envRepo } = await oneShotPipeline(settings, env);
      const report = await replay(source, delivery, body, pipeline, envRepo.forge, envRepo.repo, values['dry-run'] === true);
      for (const n of report.notes) console.error(`note: ${n}`);
      process.stdout.write(report.diff);
      for (const s of report.summary) console.error(s);
      if (values['dry-run'] === true && report.diff === '') console.error('nothing would change');
      return 0;
    },
  },
  resync: {
    summary: "list every configured image's tags and bump what its policy selects",
    usage: ['baton resync [--dry-run]'],
    details: ['--dry-run       print the diff it would write, or "nothing would change", and write nothing'],
    options: { 'dry-run': { type: 'boolean' } },
    async run({ values }) {
      const [{ resyncCommand }, { settingsFrom }] = await Promise.all([cli.resync(), cli.start()]);
      return resyncCommand(settingsFrom(env), env, values['dry-run'] === true);
    },
  },
  sweep: {
    summary: 'remove previews of closed or idle merge requests, re-create missing ones',
    usage: ['baton sweep [--dry-run]'],
    options: { 'dry-run': { type: 'boolean' } },
    async run({ values }) {
      const [{ settingsFrom }, { oneShotPipeline }, { sweep }] = await Promise.all([cli.start(), cli.serve(), import('./app/sweeper.js')]);
      const settings = settingsFrom(env);
      const { pipeline, envRepo, appRepos, logger } = await oneShotPipeline(settings, env);
      const dry = values['dry-run'] === true;
      const report = await sweep(
        { forge: envRepo.forge, repo: envRepo.repo, table: () => pipeline.config.table(), appRepos, now: () => Date.now(), maxDeletes: settings.BATON_SWEEP_MAX_DELETES, logger, run: (intents) => pipeline.runIntents(intents) },
        { dryRun: dry },
      );
      const verb = dry ? 'would ' : '';
      for (const r of report.removed) console.log(`${verb}remove ${r.name} (!${r.number}, ${r.reason})`);
      for (const r of report.recreated) console.log(`${verb}re-create ${r.name} (!${r.number})`);
      for (const r of report.kept) console.log(`keep ${r.name} (!${r.number}, ${r.reason})`);
      for (const e of report.errors) console.error(`note: ${e}`);
      for (const o of report.outcomes) console.log(`${o.branch}: ${o.status === 'committed' ? `committed ${o.commit}` : o.status}${(o.previews ?? []).filter((p) => p.state === 'waiting' || p.state === 'invalid').map((p) => `; ${p.name}: ${p.message}`).join('')}`);
      return report.errors.length > 0 ? 1 : 0;
    },
  },
  schema: {
    summary: 'print the JSON Schema of .baton.yml',
    usage: ['baton schema [--out FILE]'],
    options: { out: { type: 'string' } },
    async run({ values }) {
      const [{ jsonSchema }, { writeFile }] = await Promise.all([import('./config/schema.js'), import('node:fs/promises')]);
      const text = JSON.stringify(jsonSchema(), null, 2) + '\n';
      if (typeof values['out'] === 'string') await writeFile(values['out'], text);
      else process.stdout.write(text);
      return 0;
    },
  },
  failed: {
    summary: 'list events parked as dead letters, with the reason',
    usage: ['baton failed'],
    async run() {
      const [{ formatFailed, listFailed }, { settingsFrom }] = await Promise.all([cli.failed(), cli.start()]);
      const settings = settingsFrom(env);
      const redis = settings.REDIS_URL ? { url: settings.REDIS_URL, prefix: settings.BATON_REDIS_PREFIX } : undefined;
      print(formatFailed(await listFailed(settings.dataDir, Date.now(), redis)));
      return 0;
    },
  },
  retry: {
    summary: 'work dead letters again (the running server picks them up)',
    usage: ['baton retry ID…', 'baton retry --all'],
    options: { all: { type: 'boolean' } },
    positionals: true,
    async run({ values, positionals }) {
      if (!values['all'] && positionals.length === 0) throw new UsageError('name the events to retry (as `baton failed` lists them), or --all');
      const [{ retryFailed }, { settingsFrom }] = await Promise.all([cli.failed(), cli.start()]);
      const settings = settingsFrom(env);
      const redis = settings.REDIS_URL ? { url: settings.REDIS_URL, prefix: settings.BATON_REDIS_PREFIX } : undefined;
      const result = await retryFailed(settings.dataDir, values['all'] ? 'all' : positionals, redis);
      for (const id of result.unknown) console.error(`no failed event ${id}`);
      if (result.requested.length > 0 && redis) console.log(`${result.requested.length} event(s) put back in the shared queue; a running replica takes them now`);
      else if (result.requested.length > 0) console.log(`retry requested for ${result.requested.length} event(s); the running server takes them within a second, or the next start does`);
      else console.log('nothing to retry');
      return result.unknown.length > 0 ? 1 : 0;
    },
  },
  // `status` stands alone so its implementation can change without touching the other operator commands.
  status: {
    summary: 'per environment and image: the env repo version, the last event and what Baton did',
    usage: ['baton status [--json]'],
    details: ['Asks the running server (GET /status at BATON_URL, default http://127.0.0.1:$PORT, token BATON_STATUS_TOKEN or BATON_REGISTRY_TOKEN);', 'without one, reads BATON_DATA_DIR and the env repo.'],
    options: { json: { type: 'boolean' } },
    async run({ values }) {
      const [{ runStatus }, { settingsFrom }] = await Promise.all([import('./cli/status.js'), cli.start()]);
      const r = await runStatus(settingsFrom(env), env, { json: values['json'] === true });
      for (const l of r.err) console.error(l);
      print(r.out);
      return r.code;
    },
  },
  ...Object.fromEntries(OPERATOR_COMMANDS.filter((n) => n !== 'status').map((n) => [n, operatorCommand(n, OPERATOR_SUMMARIES[n] ?? `the /baton ${n} command`)])),
};

runProgram(process.argv.slice(2), COMMANDS, 'serve', { out: (t) => console.log(t), err: (t) => console.error(t) }).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    // Setting and start-up mistakes are one line naming what to fix; anything else is its message.
    console.error(err instanceof StartupError ? err.message : `baton: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
