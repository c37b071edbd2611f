/**
 * `baton serve`: the whole process as a function, so tests start the same thing `npm start` does.
 * Ports (forge, clock, randomness) are built here and passed down; nothing below reaches for them.
 */

import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Logger } from 'pino';
import { createMetrics } from '../app/metrics.js';
import type { Metrics } from '../app/metrics.js';
import { NoConfigError, fileConfigPersistence } from '../app/config-source.js';
import { createPipeline } from '../app/pipeline.js';
import { createCommands, reviewFeedback } from '../app/commands.js';
import type { CommandFeedback, PreviewHook } from '../app/commands.js';
import { previewCommand } from '../core/preview/route.js';
import { findResyncSelections, parseInterval } from '../app/resync.js';
import { sweep } from '../app/sweeper.js';
import type { Pipeline } from '../app/pipeline.js';
import type { DeliveryHead } from '../sources/types.js';
import type { Outcome } from '../core/outcome.js';
import { parseRepoRef } from '../core/event.js';
import { GitForge } from '../forges/git/git-forge.js';
import { redactUrl, setGitTimeout } from '../forges/git/run-git.js';
import { setForgeTimeout } from '../forges/timeout.js';
import type { Forge, ReviewPort } from '../forges/types.js';
import { failureKind } from '../forges/types.js';
import { createReporter } from '../app/reporter.js';
import type { Reporter } from '../app/reporter.js';
import type { ConfigIndex } from '../config/index.js';
import type { Event, RepoRef } from '../core/event.js';
import { formatRepoRef } from '../core/event.js';
import { cdWebhookRoutes } from '../sources/cd/index.js';
import { createHttpApp, listenHttp } from '../http/server.js';
import type { HttpDeps } from '../http/server.js';
import { MemoryQueue, systemTimer } from '../queue/memory.js';
import { RedisQueue } from '../queue/redis.js';
import type { Queue } from '../queue/types.js';
import { takeRetryRequests } from '../queue/retry-requests.js';
import { GitlabForge, createGitlabForge } from '../forges/gitlab/index.js';
import { GitlabAppRepo } from '../forges/gitlab/app-repo.js';
import type { AppRepos } from '../app/previews.js';
import type { AppRepoPort } from '../forges/types.js';
import { GitHubForge, githubForgeFromSettings } from '../forges/github/index.js';
import { githubWebhookRoute } from '../sources/github/index.js';
import { createGitlabSource, parseGitlabSecrets } from '../sources/gitlab/index.js';
import { BurstFilter, registrySecrets, registrySourcesFromEnv } from '../sources/registry/index.js';
import { HttpOciClient, registryClientOptions } from '../registry/index.js';
import type { OciClient } from '../registry/index.js';
import { demoGithubSecret, demoToken, ensureEmbeddedRepo } from './embedded.js';
import type { Env, Settings } from './settings.js';
import { StatusStore, buildStatus, statusSecrets } from '../app/status.js';
import { listenFailure } from './errors.js';

export interface EnvRepo {
  forge: Forge;
  repo: string;
  /** Human name for logs, without credentials. */
  label: string;
  embedded: boolean;
}

export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'baton' },
    redact: { paths: ['req.headers.authorization', 'headers.authorization', '*.token', 'token', '*.secret', 'secret'], censor: '[redacted]' },
  });
}

/** BATON_ENV_REPO → the forge that writes it. Unset: the embedded local repo. */
export async function resolveEnvRepo(settings: Settings, env: Env = {}, logger?: Logger): Promise<EnvRepo> {
  // Bounds for every git command and forge request this process makes.
  setGitTimeout(settings.BATON_GIT_TIMEOUT);
  setForgeTimeout(settings.BATON_FORGE_TIMEOUT);
  const git = new GitForge({ cacheDir: join(settings.dataDir, 'git'), author: { name: settings.BATON_GIT_AUTHOR_NAME, email: settings.BATON_GIT_AUTHOR_EMAIL } });
  const value = settings.BATON_ENV_REPO;
  if (!value) {
    const { path } = await ensureEmbeddedRepo(settings.dataDir);
    return { forge: git, repo: path, label: `embedded ${path}`, embedded: true };
  }
  const ref = parseRepoRef(value);
  if (ref?.forge === 'github') {
    const forge = githubForgeFromSettings(env, logger ? { log: logger } : {});
    if (!forge) throw new Error('BATON_ENV_REPO=github:… needs APP_ID with PRIVATE_KEY (or PRIVATE_KEY_PATH), or GITHUB_TOKEN');
    return { forge, repo: ref.path, label: `github:${ref.path}`, embedded: false };
  }
  if (ref?.forge === 'gitlab') {
    const forge = createGitlabForge({ GITLAB_URL: env['GITLAB_URL'], GITLAB_TOKEN: env['GITLAB_TOKEN'], BATON_GITLAB_BOT_USERNAME: env['BATON_GITLAB_BOT_USERNAME'] });
    return { forge, repo: ref.path, label: `gitlab:${ref.path}`, embedded: false };
  }
  const repo = ref?.forge === 'git' ? ref.path : value;
  return { forge: git, repo, label: redactUrl(repo), embedded: false };
}

/**
 * The forges that answer for app repositories (previews: MR state, CI state). The env repo's own
 * forge is reused when the app repo lives on the same kind of forge; otherwise one is built from the
 * GitHub / GitLab settings, once, when first needed.
 */
export function appReposFor(envRepo: EnvRepo, env: Env, logger?: Logger): AppRepos {
  let github: AppRepoPort | undefined | null = envRepo.forge instanceof GitHubForge ? envRepo.forge : null;
  let gitlab: AppRepoPort | undefined | null = envRepo.forge instanceof GitlabForge ? new GitlabAppRepo(envRepo.forge) : null;
  return (ref) => {
    if (ref.forge === 'github') {
      if (github === null) github = githubForgeFromSettings(env, logger ? { log: logger } : {}) ?? undefined;
      return github;
    }
    if (ref.forge === 'gitlab') {
      if (gitlab === null) {
        gitlab = env['GITLAB_TOKEN']
          ? new GitlabAppRepo(createGitlabForge({ GITLAB_URL: env['GITLAB_URL'], GITLAB_TOKEN: env['GITLAB_TOKEN'], BATON_GITLAB_BOT_USERNAME: env['BATON_GITLAB_BOT_USERNAME'] }))
          : undefined;
      }
      return gitlab;
    }
    return undefined;
  };
}

interface PipelineParts {
  settings: Settings;
  envRepo: EnvRepo;
  logger: Logger;
  queue: Queue;
  registry: OciClient;
  appRepos: AppRepos;
  metrics?: Metrics;
  onOutcome?: (outcome: Outcome) => void | Promise<void>;
  reporter?: Reporter;
  /** Filled in by pipelineFor: who hears about an event parked as a dead letter (the queue exists first). */
  parked?: { tell?: (event: Event, reason: string) => void };
  status?: StatusStore;
  /** BATON_DRY_RUN, for the server only: one-shot commands have their own --dry-run. */
  dryRun?: boolean;
}

/** The pipeline with the process's real clock, randomness and sleep: the one wiring serve, replay and resync share. */
function pipelineFor(p: PipelineParts): Pipeline {
  const reviews = p.envRepo.forge.reviews;
  const built: { pipeline?: Pipeline } = {};
  // Command results go into the MR's one Baton comment (the reporter's); refusals are replies.
  const feedback: CommandFeedback | undefined = reviews && {
    async result(t, entries) {
      if (p.reporter && (t.forge === 'github' || t.forge === 'gitlab')) {
        for (const e of entries) await p.reporter.recordCommandResult({ forge: t.forge, path: t.repo }, t.number, { at: new Date().toISOString(), author: e.author, command: e.command, ok: e.ok, reply: e.ok ? 'done' : 'not done', details: e.text });
      } else await reviewFeedback(reviews).result(t, entries);
    },
    reply: (t, lines) => reviewFeedback(reviews).reply(t, lines),
  };
  // `/baton preview` and `/baton preview destroy`: the previews feature decides, the queue writes.
  const previews: PreviewHook = async ({ event, destroy, actor }) => {
    const port = p.appRepos(event.repo);
    const table = await built.pipeline?.config.table();
    if (!port || !table) return { text: 'Previews are not configured for this repository.' };
    const mr = await port.getMergeRequest(event.repo.path, event.number);
    if (!mr) return { text: `#${event.number} could not be read from ${formatRepoRef(event.repo)}; nothing was changed.` };
    const role = reviews && event.repo.forge === p.envRepo.forge.kind ? await reviews.roleOf(event.repo.path, actor) : 'none';
    const out = previewCommand(
      { action: destroy ? 'destroy' : 'preview', mr: { ...mr, repo: event.repo }, actor, actorRole: role, source: event.source, deliveryId: event.deliveryId },
      table,
      formatRepoRef(event.repo),
    );
    if (out.kind === 'reply') return { text: out.message };
    return { text: destroy ? 'The preview is being removed.' : 'The preview is written once the build of its head commit exists.', intents: out.intents };
  };
  const commands = createCommands({ forge: p.envRepo.forge, repo: p.envRepo.repo, logger: p.logger, now: () => Date.now(), previews, ...(feedback && { feedback }) });
  if (p.parked && !p.dryRun) p.parked.tell = (event, reason) => void commands.onParked(event, reason);
  // Observe only: nothing that writes (the reporter, ChatOps) is wired; the pipeline plans and logs.
  const dryRun = p.dryRun === true;
  built.pipeline = createPipeline({
    commands,
    forge: p.envRepo.forge,
    repo: p.envRepo.repo,
    queue: p.queue,
    logger: p.logger,
    ...(p.metrics && { metrics: p.metrics }),
    now: () => Date.now(),
    random: Math.random,
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    configTtlMs: p.settings.BATON_CONFIG_TTL_MS,
    configPersistence: fileConfigPersistence(join(p.settings.dataDir, 'state', 'config.json')),
    watermarksPath: join(p.settings.dataDir, 'state', 'watermarks.json'),
    // Replicas on Redis share the watermarks: an old event on one must not roll back another's write.
    ...(p.queue instanceof RedisQueue && { watermarks: p.queue.watermarks(), ledger: p.queue.ledger() }),
    rollingLedgerPath: join(p.settings.dataDir, 'state', 'rolling.json'),
    resolveDigest: (repository, tag) => p.registry.resolveDigest(repository, tag),
    previews: { appRepos: p.appRepos, resolveDigest: (repository, tag) => p.registry.resolveDigest(repository, tag) },
    ...(p.settings.skipCi && { skipCi: true }),
    limits: { maxTargetBytes: p.settings.BATON_MAX_TARGET_BYTES, maxConfigBytes: p.settings.BATON_MAX_CONFIG_BYTES, offThreadBytes: p.settings.BATON_OFFTHREAD_BYTES },
    ...(p.onOutcome && { onOutcome: p.onOutcome }),
    ...(p.reporter && !dryRun && { resolveSource: p.reporter.resolveSource, onEvent: p.reporter.onEvent, onPaused: p.reporter.recordPaused }),
    ...(p.status && { status: p.status }),
    ...(dryRun && { dryRun: true }),
  });
  return built.pipeline;
}

/**
 * The reporter for a running Baton: app repos on the env repo's forge use that forge; app repos on the
 * other forge use one built from its settings (GITHUB_TOKEN / App, GITLAB_TOKEN) when they are set.
 */
function reporterFor(envRepo: EnvRepo, env: Env, logger: Logger, metrics: Metrics | undefined, registry: OciClient, config: () => Promise<ConfigIndex | undefined>): Reporter {
  const others = new Map<string, ReviewPort | undefined>();
  const reviewsFor = (ref: RepoRef): ReviewPort | undefined => {
    if (ref.forge === envRepo.forge.kind) return envRepo.forge.reviews;
    if (!others.has(ref.forge)) {
      let forge: Forge | undefined;
      try {
        if (ref.forge === 'github') forge = githubForgeFromSettings(env, { log: logger });
        else if (ref.forge === 'gitlab' && env['GITLAB_TOKEN']) forge = createGitlabForge({ GITLAB_URL: env['GITLAB_URL'], GITLAB_TOKEN: env['GITLAB_TOKEN'], BATON_GITLAB_BOT_USERNAME: env['BATON_GITLAB_BOT_USERNAME'] });
      } catch (err) {
        logger.warn({ err: (err as Error).message, forge: ref.forge }, 'no forge to report on app merge requests');
      }
      others.set(ref.forge, forge?.reviews);
    }
    return others.get(ref.forge);
  };
  const hostOf = (url: string | undefined, fallback: string): string => {
    try {
      const host = new URL(url ?? fallback).host.toLowerCase();
      return host === 'api.github.com' ? 'github.com' : host;
    } catch {
      return new URL(fallback).host;
    }
  };
  const imageOrigin = registry.imageOrigin?.bind(registry);
  return createReporter({
    envForge: envRepo.forge,
    envRepo: envRepo.repo,
    reviewsFor,
    config,
    ...(imageOrigin && { imageOrigin }),
    logger,
    ...(metrics && { metrics }),
    now: () => Date.now(),
    ...(env['BATON_ARGOCD_URL'] && { argocdUrl: env['BATON_ARGOCD_URL'] }),
    sourceHosts: { github: [...new Set(['github.com', hostOf(env['GITHUB_API_URL'], 'https://api.github.com')])], gitlab: [hostOf(env['GITLAB_URL'], 'https://gitlab.com')] },
  });
}

/** For one-shot commands (replay, resync): writes immediately, no debounce, no journal. */
export async function oneShotPipeline(settings: Settings, env: Env): Promise<{ pipeline: Pipeline; registry: OciClient; envRepo: EnvRepo; appRepos: AppRepos; logger: Logger }> {
  const logger = createLogger(env['LOG_LEVEL'] ?? 'warn');
  const envRepo = await resolveEnvRepo(settings, env, logger);
  const registry = new HttpOciClient(registryClientOptions(env));
  const queue = new MemoryQueue({ debounceMs: 0, now: () => Date.now(), setTimer: systemTimer });
  const appRepos = appReposFor(envRepo, env, logger);
  const built: { pipeline?: Pipeline } = {};
  const reporter = reporterFor(envRepo, env, logger, undefined, registry, async () => built.pipeline?.config.latest ?? built.pipeline?.config.table());
  built.pipeline = pipelineFor({ settings, envRepo, logger, queue, registry, reporter, appRepos, onOutcome: (o) => reporter.onOutcome(o) });
  return { pipeline: built.pipeline, registry, envRepo, appRepos, logger };
}

export interface StartOptions {
  settings: Settings;
  env: Env;
  logger?: Logger;
  /** Use this forge instead of the one BATON_ENV_REPO names (tests: emulators). */
  envRepo?: EnvRepo;
  sources?: HttpDeps['sources'];
  onOutcome?: (outcome: Outcome) => void | Promise<void>;
  /** Registry client for digest resolution and resync (default: HTTP, credentials from settings). */
  registry?: OciClient;
  /** Keep the queue journal on disk (default true). */
  journal?: boolean;
  /** The forges answering for app repositories (default: built from the env repo's forge and settings). */
  appRepos?: AppRepos;
}

export interface RunningBaton {
  url: string;
  /** Reporting back on merge requests; previews and ChatOps write into its comment. */
  reporter: Reporter;
  registry: OciClient;
  pipeline: Pipeline;
  envRepo: EnvRepo;
  /** The demo registry token, when running on the embedded default without BATON_REGISTRY_TOKEN. */
  demoToken?: string;
  /** The demo GitHub webhook secret, when running on the embedded default without WEBHOOK_SECRET. */
  demoGithubSecret?: string;
  logger: Logger;
  /** Stop accepting, drain the queue, close the server. */
  close(): Promise<void>;
}

/** A webhook source whose implementation can be replaced once the forge has said who Baton is. */
function swappable(initial: NonNullable<HttpDeps['sources']>[string]): { route: NonNullable<HttpDeps['sources']>[string]; swap(next: NonNullable<HttpDeps['sources']>[string]): void } {
  let current = initial;
  const first = initial.source;
  const precheck = first.precheck;
  return {
    route: {
      // Everything the edge asks of a source is forwarded: without `precheck` an unsigned delivery's
      // body would be read before it is refused, and without `hmac` it would not be hashed as it streams.
      source: {
        id: first.id,
        verify: (d, s) => current.source.verify(d, s),
        parse: (b, d) => current.source.parse(b, d),
        ...(precheck && { precheck: (h: DeliveryHead, s: readonly string[]) => (current.source.precheck ?? precheck)(h, s) }),
        ...(first.hmac && { hmac: first.hmac }),
        ...(first.maxJsonDepth !== undefined && { maxJsonDepth: first.maxJsonDepth }),
      },
      secrets: () => current.secrets(),
      ...(initial.maxBytes !== undefined && { maxBytes: initial.maxBytes }),
    },
    swap: (next) => {
      current = next;
    },
  };
}

/** Resolve `p`, or `undefined` after `ms` (for start-up lookups that must not hold the server). */
function within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  return Promise.race([p.catch(() => undefined), new Promise<undefined>((r) => setTimeout(() => r(undefined), ms).unref())]);
}

export async function startBaton(options: StartOptions): Promise<RunningBaton> {
  const { settings, env } = options;
  const logger = options.logger ?? createLogger(settings.LOG_LEVEL);
  setGitTimeout(settings.BATON_GIT_TIMEOUT);
  setForgeTimeout(settings.BATON_FORGE_TIMEOUT);
  const envRepo = options.envRepo ?? (await resolveEnvRepo(settings, env, logger));
  const token = envRepo.embedded && !env['BATON_REGISTRY_TOKEN'] ? await demoToken(settings.dataDir) : undefined;
  // The embedded demo takes GitHub deliveries signed with a demo secret, so its preview curl works.
  const githubSecret = envRepo.embedded && !env['WEBHOOK_SECRET'] ? await demoGithubSecret(settings.dataDir) : undefined;
  const metrics = createMetrics({ defaults: true });
  const registry = options.registry ?? new HttpOciClient(registryClientOptions(env));
  const queueDir = join(settings.dataDir, 'queue');
  const parked: NonNullable<PipelineParts['parked']> = {};
  const classify = (err: unknown): 'retryable' | 'permanent' => (err instanceof NoConfigError ? 'retryable' : failureKind(err));
  // REDIS_URL: several replicas share one queue (docs/architecture.md); otherwise the embedded journal.
  const queue: Queue = settings.REDIS_URL
    ? new RedisQueue({ url: settings.REDIS_URL, prefix: settings.BATON_REDIS_PREFIX, debounceMs: settings.BATON_DEBOUNCE_MS, retentionMs: settings.BATON_RETENTION, jobLockMs: settings.BATON_REDIS_LOCK_TIMEOUT, lockMs: settings.BATON_REDIS_LOCK_TIMEOUT, classify, log: logger, onPark: (event, reason) => parked.tell?.(event, reason) })
    : new MemoryQueue({
        debounceMs: settings.BATON_DEBOUNCE_MS,
        ...(options.journal !== false && { journalPath: join(queueDir, 'journal.jsonl') }),
        retentionMs: settings.BATON_RETENTION,
        classify,
        now: () => Date.now(),
        random: Math.random,
        setTimer: systemTimer,
        log: logger,
        onPark: (event, reason) => parked.tell?.(event, reason),
      });
  // The reporter reads the config the pipeline keeps; the pipeline calls the reporter: tie the knot once built.
  const built: { pipeline?: Pipeline } = {};
  const reporter = reporterFor(envRepo, env, logger, metrics, registry, async () => built.pipeline?.config.latest ?? built.pipeline?.config.table());
  const onOutcome = async (outcome: Outcome): Promise<void> => {
    await reporter.onOutcome(outcome);
    // Previews are told on their MR too: created, moved, removed, waiting for the build, invalid.
    for (const p of outcome.previews ?? []) {
      const ref = parseRepoRef(p.repo);
      if (!ref || ref.forge === 'git' || p.state === 'unchanged') continue;
      await reporter.recordPreview(ref, p.number, { name: p.name, state: p.message ? `${p.state}: ${p.message}` : p.state, at: new Date().toISOString() });
    }
    await options.onOutcome?.(outcome);
  };
  const appRepos = options.appRepos ?? appReposFor(envRepo, env, logger);
  const status = new StatusStore(join(settings.dataDir, 'state', 'status.json'), () => Date.now(), logger);
  await status.load();
  for (const c of status.cells()) if (c.written) metrics.setVersion(c.image, c.env, c.written.version);
  if (settings.dryRun) logger.warn('BATON_DRY_RUN is set: events are routed and planned, the diffs logged and shown on /status; nothing is written to the env repo');
  const pipeline = pipelineFor({ settings, envRepo, logger, queue, registry, metrics, onOutcome, reporter, appRepos, parked, status, dryRun: settings.dryRun });
  built.pipeline = pipeline;
  let draining = false;
  let configLoaded = false;
  let configProblem: string | undefined = 'the env repository has not been read yet';

  // Same repository, tag and digest within the window: one push, however many calls announced it.
  // Events without a digest are not folded: their content is unknown, and batching folds them anyway.
  const bursts = new BurstFilter(5 * 60_000);

  // Baton's own deliveries are recognised by its forge identity, which is asked of the forge after
  // the server listens (a slow forge must not keep the probes unanswered); until then the
  // configured names are used.
  const gitlabSecrets = parseGitlabSecrets(env['GITLAB_WEBHOOK_SECRET']);
  const gitlabConfigured = env['BATON_GITLAB_BOT_USERNAME']?.trim();
  const githubEnv = githubSecret ? { ...env, WEBHOOK_SECRET: githubSecret } : env;
  const github = swappable(githubWebhookRoute(githubEnv, []));
  const gitlab = swappable({ source: createGitlabSource(gitlabConfigured ? { botUsername: gitlabConfigured } : {}), secrets: () => gitlabSecrets });
  const sources: NonNullable<HttpDeps['sources']> = { github: github.route, gitlab: gitlab.route, ...cdWebhookRoutes(env), ...options.sources };

  let statusCache: { at: number; report: Promise<unknown> } | undefined;
  const app = createHttpApp({
    registrySources: registrySourcesFromEnv(env),
    admit: (e) => e.type !== 'image-pushed' || e.digest === undefined || bursts.admit(e, Date.now()),
    logger,
    metrics,
    // An event the queue could not store is forgotten by the burst filter too: its retry is not a "duplicate".
    queue: {
      enqueue: async (e) => {
        try {
          return await queue.enqueue(e);
        } catch (err) {
          if (e.type === 'image-pushed' && e.digest !== undefined) bursts.forget(e);
          throw err;
        }
      },
      start: (h) => queue.start(h),
      drain: (ms) => queue.drain(ms),
      stats: () => queue.stats(),
      deadLetters: () => queue.deadLetters(),
      retry: (ids) => queue.retry(ids),
      problem: () => queue.problem?.(),
    },
    // The demo token stands in only while no registry secret is configured at all.
    registrySecrets: (kind) => {
      const secrets = registrySecrets(env, kind);
      return secrets.length > 0 || !token ? secrets : [token];
    },
    sources,
    isReady: () => !draining && (configLoaded || pipeline.config.revision !== undefined) && queue.problem?.() === undefined,
    readyDetail: () => ({
      ...(draining && { reason: 'draining' }),
      ...(!draining && !(configLoaded || pipeline.config.revision !== undefined) && { reason: configProblem }),
      ...(!draining && queue.problem?.() !== undefined && { reason: `the queue cannot take work: ${queue.problem?.()}` }),
      deadLetters: queue.deadLetters().slice(0, 20),
    }),
    status: {
      secrets: () => statusSecrets(env, token),
      // One report at a time, reused for a second: a dashboard polling /status costs the forge little.
      report: () => {
        if (statusCache && Date.now() - statusCache.at < 1_000) return statusCache.report;
        const report = (async () =>
          buildStatus({
            store: status,
            table: await pipeline.config.table().catch(() => pipeline.config.latest),
            ...(pipeline.config.revision !== undefined && { revision: pipeline.config.revision }),
            ...(!(configLoaded || pipeline.config.revision !== undefined) && configProblem && { configProblem }),
            forge: envRepo.forge,
            repo: envRepo.repo,
            envRepoLabel: envRepo.label,
            queue,
            dryRun: settings.dryRun,
            now: () => Date.now(),
          }))();
        statusCache = { at: Date.now(), report };
        report.catch(() => (statusCache = undefined));
        return report;
      },
    },
    maxBodyBytes: settings.BATON_MAX_BODY_BYTES,
    maxInflightBodyBytes: settings.BATON_MAX_INFLIGHT_BODY_BYTES,
  });
  const server: Server = await listenHttp(app, settings.PORT, settings.HOST, {
    requestTimeoutMs: settings.BATON_HTTP_REQUEST_TIMEOUT_MS,
    headersTimeoutMs: settings.BATON_HTTP_HEADERS_TIMEOUT_MS,
    keepAliveTimeoutMs: settings.BATON_HTTP_KEEPALIVE_TIMEOUT_MS,
    maxConnections: settings.BATON_HTTP_MAX_CONNECTIONS,
  }).catch((err: unknown) => {
    // A busy port is "port 3000 is in use; set PORT", not a stack trace.
    throw listenFailure(err, settings);
  });
  const address = server.address() as AddressInfo;
  const host = settings.HOST === '0.0.0.0' || settings.HOST === '::' ? 'localhost' : settings.HOST;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
  logger.info({ url, envRepo: envRepo.label, debounceMs: settings.BATON_DEBOUNCE_MS }, 'Baton is listening');

  // Work starts once the server answers: the journal replays, then the config is read.
  await pipeline.start();
  const configRead = pipeline.config
    .table()
    .then((t) => {
      configLoaded = t !== undefined;
      if (!configLoaded) configProblem = 'no valid .baton.yml has been read from the env repository';
    })
    .catch((err: unknown) => {
      configProblem = `the env repository could not be read: ${(err as Error).message}`;
      logger.error({ err }, 'could not read .baton.yml from the env repository yet');
    });
  const identity = (async () => {
    const gitlabBot = gitlabConfigured || (envRepo.forge instanceof GitlabForge ? await within(envRepo.forge.botUsername(), settings.BATON_FORGE_TIMEOUT) : undefined);
    if (gitlabBot && gitlabBot !== gitlabConfigured) gitlab.swap({ source: createGitlabSource({ botUsername: gitlabBot }), secrets: () => gitlabSecrets });
    const githubLogin = envRepo.forge instanceof GitHubForge ? await within(envRepo.forge.selfLogin(), settings.BATON_FORGE_TIMEOUT) : undefined;
    if (githubLogin) github.swap(githubWebhookRoute(githubEnv, [githubLogin]));
  })();
  // Tests and callers that start Baton expect it settled; a slow forge is bounded by the timeout.
  await within(Promise.all([configRead, identity]), settings.BATON_FORGE_TIMEOUT);

  // The safety net for a missed webhook: periodically ask the registries, through the same queue.
  const resyncEvery = parseInterval(settings.BATON_RESYNC_INTERVAL);
  let resyncTimer: NodeJS.Timeout | undefined;
  if (resyncEvery) {
    resyncTimer = setInterval(() => {
      void findResyncSelections(pipeline.config, registry, new Date().toISOString())
        .then(async (run) => {
          for (const n of run.notes) logger.warn({ image: n.image, note: n.message }, 'resync');
          for (const e of run.selections) if (!draining) await queue.enqueue(e);
        })
        .catch((err: unknown) => logger.error({ err }, 'resync failed'));
    }, resyncEvery);
    resyncTimer.unref();
  }

  // `baton retry` (another process) leaves requests here; the running server picks them up.
  const retryTimer = setInterval(() => {
    void takeRetryRequests(queueDir)
      .then(async (ids) => {
        if (ids.length === 0) return;
        const retried = await queue.retry(ids.includes('all') ? 'all' : ids);
        logger.info({ retried }, 'dead letters taken back to work');
      })
      .catch((err: unknown) => logger.error({ err }, 'could not read retry requests'));
  }, 1_000);
  retryTimer.unref();

  // The preview sweep: closed or idle previews removed, missing ones of open MRs re-created.
  let sweepEvery: number | undefined;
  try {
    sweepEvery = parseInterval(settings.BATON_SWEEP_INTERVAL);
  } catch {
    throw new Error(`BATON_SWEEP_INTERVAL must look like 30s, 15m or 1h (got ${JSON.stringify(settings.BATON_SWEEP_INTERVAL)})`);
  }
  let sweepTimer: NodeJS.Timeout | undefined;
  let sweeping = false;
  if (sweepEvery && settings.dryRun) logger.warn('BATON_SWEEP_INTERVAL is ignored while BATON_DRY_RUN is set: the sweep removes previews');
  if (sweepEvery && !settings.dryRun) {
    sweepTimer = setInterval(() => {
      if (sweeping || draining) return;
      sweeping = true;
      void sweep({ forge: envRepo.forge, repo: envRepo.repo, table: () => pipeline.config.table(), appRepos, now: () => Date.now(), maxDeletes: settings.BATON_SWEEP_MAX_DELETES, logger, run: (intents) => pipeline.runIntents(intents) })
        .catch((err: unknown) => logger.error({ err }, 'preview sweep failed'))
        .finally(() => {
          sweeping = false;
        });
    }, sweepEvery);
    sweepTimer.unref();
  }


  let closing: Promise<void> | undefined;
  return {
    url,
    reporter,
    registry,
    pipeline,
    envRepo,
    ...(token && { demoToken: token }),
    ...(githubSecret && { demoGithubSecret: githubSecret }),
    logger,
    close() {
      closing ??= (async () => {
        draining = true;
        if (resyncTimer) clearInterval(resyncTimer);
        clearInterval(retryTimer);
        if (sweepTimer) clearInterval(sweepTimer);
        const closed = new Promise<void>((r) => server.close(() => r()));
        server.closeIdleConnections();
        await queue.drain(settings.BATON_DRAIN_TIMEOUT);
        await reporter.idle();
        await status.flush();
        server.closeAllConnections();
        await closed;
      })();
      return closing;
    },
  };
}
