/**
 * `baton serve` (and `baton` alone): check the settings and the env repository, start the server,
 * print the demo's first steps when it runs on the embedded default, drain on SIGTERM.
 */

import { DEMO_HEADLINE, demoBanner } from './embedded.js';
import { createLogger, startBaton } from './serve.js';
import { checkDemoAllowed, checkEnvRepo, envRepoFrom, settingsFrom } from './start.js';
import type { Env } from './settings.js';

/** Resolves to -1: the process keeps running until a signal ends it. */
export async function serveCommand(env: Env): Promise<number> {
  const settings = settingsFrom(env);
  checkDemoAllowed(settings, env);
  const logger = createLogger(settings.LOG_LEVEL);
  const envRepo = await envRepoFrom(settings, env, logger);
  await checkEnvRepo(envRepo, settings, env);
  if (envRepo.embedded) process.stdout.write(`${DEMO_HEADLINE}\n`);
  const baton = await startBaton({ settings, env, logger, envRepo });
  if (baton.envRepo.embedded) {
    process.stdout.write(
      demoBanner({ url: baton.url, gitDir: baton.envRepo.repo, token: baton.demoToken ?? '$BATON_REGISTRY_TOKEN', debounceMs: settings.BATON_DEBOUNCE_MS, ...(baton.demoGithubSecret && { githubSecret: baton.demoGithubSecret }) }) + '\n',
    );
  }
  let stopping = false;
  const stop = (signal: string): void => {
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
  return -1;
}
