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
import { createPipeline } from '../app/pipeline.js';
import { createCommands, reviewFeedback } from '../app/commands.js';
import { findResyncSelections, parseInterval } from '../app/resync.js';
import type { Pipeline } from '../app/pipeline.js';
import type { Outcome } from '../core/outcome.js';
import { parseRepoRef } from '../core/event.js';
import { GitForge } from '../forges/git/git-forge.js';
import { redactUrl } from '../forges/git/run-git.js';
import type { Forge } from '../forges/types.js';
import { createHttpApp } from '../http/server.js';
import type { HttpDeps } from '../http/server.js';
import { MemoryQueue, systemTimer } from '../queue/memory.js';
import { GitlabForge, createGitlabForge } from '../forges/gitlab/index.js';
import { GitHubForge, githubForgeFromSettings } from '../forges/github/index.js';
import { githubWebhookRoute } from '../sources/github/index.js';
import { createGitlabSource, parseGitlabSecrets } from '../sources/gitlab/index.js';
import { BurstFilter, registrySecrets, registrySourcesFromEnv } from '../sources/registry/index.js';
import { HttpOciClient, registryClientOptions } from '../registry/index.js';
import type { OciClient } from '../registry/index.js';
import { demoToken, ensureEmbeddedRepo } from './embedded.js';
import type { Env, Settings } from './settings.js';

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

interface PipelineParts {
  settings: Settings;
  envRepo: EnvRepo;
  logger: Logger;
  queue: MemoryQueue;
  registry: OciClient;
  metrics?: Metrics;
  onOutcome?: (outcome: Outcome) => void | Promise<void>;
}

/** The pipeline with the process's real clock, randomness and sleep: the one wiring serve, replay and resync share. */
function pipelineFor(p: PipelineParts): Pipeline {
  const reviews = p.envRepo.forge.reviews;
  const commands = createCommands({ forge: p.envRepo.forge, repo: p.envRepo.repo, logger: p.logger, now: () => Date.now(), ...(reviews && { feedback: reviewFeedback(reviews) }) });
  return createPipeline({
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
    resolveDigest: (repository, tag) => p.registry.resolveDigest(repository, tag),
    ...(p.settings.skipCi && { skipCi: true }),
    ...(p.onOutcome && { onOutcome: p.onOutcome }),
  });
}

/** For one-shot commands (replay, resync): writes immediately, no debounce, no journal. */
export async function oneShotPipeline(settings: Settings, env: Env): Promise<{ pipeline: Pipeline; registry: OciClient; envRepo: EnvRepo; logger: Logger }> {
  const logger = createLogger(env['LOG_LEVEL'] ?? 'warn');
  const envRepo = await resolveEnvRepo(settings, env, logger);
  const registry = new HttpOciClient(registryClientOptions(env));
  const queue = new MemoryQueue({ debounceMs: 0, now: () => Date.now(), setTimer: systemTimer });
  return { pipeline: pipelineFor({ settings, envRepo, logger, queue, registry }), registry, envRepo, logger };
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
}

export interface RunningBaton {
  url: string;
  registry: OciClient;
  pipeline: Pipeline;
  envRepo: EnvRepo;
  /** The demo registry token, when running on the embedded default without BATON_REGISTRY_TOKEN. */
  demoToken?: string;
  logger: Logger;
  /** Stop accepting, drain the queue, close the server. */
  close(): Promise<void>;
}

export async function startBaton(options: StartOptions): Promise<RunningBaton> {
  const { settings, env } = options;
  const logger = options.logger ?? createLogger(settings.LOG_LEVEL);
  if (settings.REDIS_URL) throw new Error('REDIS_URL is set, but this build has only the embedded single-process queue; unset REDIS_URL and run one replica');
  const envRepo = options.envRepo ?? (await resolveEnvRepo(settings, env, logger));
  const token = envRepo.embedded && !env['BATON_REGISTRY_TOKEN'] ? await demoToken(settings.dataDir) : undefined;
  const metrics = createMetrics({ defaults: true });
  const registry = options.registry ?? new HttpOciClient(registryClientOptions(env));
  const queue = new MemoryQueue({
    debounceMs: settings.BATON_DEBOUNCE_MS,
    ...(options.journal !== false && { journalPath: join(settings.dataDir, 'queue', 'journal.jsonl') }),
    now: () => Date.now(),
    setTimer: systemTimer,
    onError: (err, context) => logger.error({ err, context }, 'queue work failed'),
  });
  const pipeline = pipelineFor({ settings, envRepo, logger, queue, registry, metrics, ...(options.onOutcome && { onOutcome: options.onOutcome }) });
  let draining = false;
  let configLoaded = false;
  await pipeline.start();
  try {
    configLoaded = (await pipeline.config.table()) !== undefined;
  } catch (err) {
    logger.error({ err }, 'could not read .baton.yml from the env repository yet');
  }

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

  // GitLab hooks: Baton's own notes and pushes are recognised by its username (asked of the API when unset).
  let gitlabBot = env['BATON_GITLAB_BOT_USERNAME']?.trim();
  if (!gitlabBot && envRepo.forge instanceof GitlabForge) gitlabBot = await envRepo.forge.botUsername().catch(() => undefined);
  const gitlabSecrets = parseGitlabSecrets(env['GITLAB_WEBHOOK_SECRET']);
  // GitHub deliveries caused by Baton's own login are ignored; the forge can tell which login that is.
  const githubLogin = envRepo.forge instanceof GitHubForge ? await envRepo.forge.selfLogin().catch(() => undefined) : undefined;
  const sources: NonNullable<HttpDeps['sources']> = {
    github: githubWebhookRoute(env, [githubLogin]),
    gitlab: { source: createGitlabSource(gitlabBot ? { botUsername: gitlabBot } : {}), secrets: () => gitlabSecrets },
    ...options.sources,
  };

  // Same repository, tag and digest within the window: one push, however many calls announced it.
  // Events without a digest are not folded: their content is unknown, and batching folds them anyway.
  const bursts = new BurstFilter(5 * 60_000);

  const app = createHttpApp({
    registrySources: registrySourcesFromEnv(env),
    admit: (e) => e.type !== 'image-pushed' || e.digest === undefined || bursts.admit(e, Date.now()),
    logger,
    metrics,
    queue,
    // The demo token stands in only while no registry secret is configured at all.
    registrySecrets: (kind) => {
      const secrets = registrySecrets(env, kind);
      return secrets.length > 0 || !token ? secrets : [token];
    },
    sources,
    isReady: () => !draining && (configLoaded || pipeline.config.revision !== undefined),
    maxBodyBytes: settings.BATON_MAX_BODY_BYTES,
  });
  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(settings.PORT, settings.HOST, () => resolve(s));
    s.once('error', reject);
  });
  const address = server.address() as AddressInfo;
  const host = settings.HOST === '0.0.0.0' || settings.HOST === '::' ? 'localhost' : settings.HOST;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
  logger.info({ url, envRepo: envRepo.label, debounceMs: settings.BATON_DEBOUNCE_MS }, 'Baton is listening');

  let closing: Promise<void> | undefined;
  return {
    url,
    registry,
    pipeline,
    envRepo,
    ...(token && { demoToken: token }),
    logger,
    close() {
      closing ??= (async () => {
        draining = true;
        if (resyncTimer) clearInterval(resyncTimer);
        const closed = new Promise<void>((r) => server.close(() => r()));
        server.closeIdleConnections();
        await queue.drain();
        await closed;
      })();
      return closing;
    },
  };
}
