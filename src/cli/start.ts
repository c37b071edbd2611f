/**
 * What `baton serve` checks before it listens, so a setup mistake is one line naming the setting to
 * fix and exit code 1 — never a silently ignored setting, an embedded demo the user did not ask for,
 * or a server that starts and then fails every event.
 */

import type { Logger } from 'pino';
import { ForgeError, RetryableError } from '../forges/types.js';
import { githubAuthMode } from '../forges/github/index.js';
import { FORGE_SETTINGS, unknownSettings } from './known-settings.js';
import { StartupError } from './errors.js';
import { resolveEnvRepo } from './serve.js';
import type { EnvRepo } from './serve.js';
import { SettingsError, loadSettings } from './settings.js';
import type { Env, Settings } from './settings.js';

const isTrue = (v: string | undefined): boolean => v === 'true' || v === '1';

/** Settings for any command: an unknown BATON_* name or a malformed value is a StartupError. */
export function settingsFrom(env: Env): Settings {
  const unknown = unknownSettings(env);
  if (unknown.length > 0) throw new StartupError(unknown.join('\n'));
  try {
    return loadSettings(env);
  } catch (e) {
    if (e instanceof SettingsError) throw new StartupError(`invalid setting ${e.message}`);
    throw e;
  }
}

/**
 * Whether the embedded demo may run: only when no forge or env-repo setting is present, and — where
 * BATON_REQUIRE_ENV_REPO=true (the container image) — only with BATON_DEMO=true.
 */
export function checkDemoAllowed(settings: Settings, env: Env): void {
  if (settings.BATON_ENV_REPO) return;
  const forge = FORGE_SETTINGS.find((name) => name !== 'BATON_ENV_REPO' && env[name]);
  if (forge) {
    throw new StartupError(
      `${forge} is set but BATON_ENV_REPO is not: set BATON_ENV_REPO to the env repository Baton writes (github:owner/name, gitlab:group/name or a git URL); the embedded demo runs only when no forge setting is present`,
    );
  }
  if (isTrue(settings.BATON_REQUIRE_ENV_REPO) && !isTrue(settings.BATON_DEMO)) {
    throw new StartupError('BATON_ENV_REPO is not set: set it to the env repository Baton writes (github:owner/name, gitlab:group/name or a git URL), or set BATON_DEMO=true to run the embedded demo');
  }
}

/** The setting that holds the credentials for the env repo's forge (named in messages, never its value). */
function credentialSetting(kind: string, env: Env): string {
  if (kind === 'github') return githubAuthMode(env) === 'app' ? (env['PRIVATE_KEY_PATH'] ? 'APP_ID / PRIVATE_KEY_PATH' : 'APP_ID / PRIVATE_KEY') : 'GITHUB_TOKEN';
  if (kind === 'gitlab') return 'GITLAB_TOKEN';
  return 'BATON_ENV_REPO';
}

function firstLine(text: string): string {
  return (text.split('\n').find((l) => l.trim() !== '') ?? text).trim().slice(0, 300);
}

/** The env repository's forge, built from the settings; a bad key file or a missing credential names its setting. */
export async function envRepoFrom(settings: Settings, env: Env, logger?: Logger): Promise<EnvRepo> {
  try {
    return await resolveEnvRepo(settings, env, logger);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code && typeof err.path === 'string' && err.path === env['PRIVATE_KEY_PATH']) {
      throw new StartupError(`PRIVATE_KEY_PATH: cannot read ${err.path} (${err.code})`);
    }
    if (/PRIVATE_KEY/.test(err.message) && !err.message.startsWith('BATON_ENV_REPO')) {
      const path = env['PRIVATE_KEY'] ? undefined : env['PRIVATE_KEY_PATH'];
      throw new StartupError(path ? `PRIVATE_KEY_PATH: ${path} is not a PEM private key` : `PRIVATE_KEY: ${firstLine(err.message).replace(/^PRIVATE_KEY /, '')}`);
    }
    if (/^(GITLAB_|GITHUB_|BATON_ENV_REPO)/.test(err.message)) throw new StartupError(firstLine(err.message));
    throw new StartupError(`BATON_ENV_REPO: ${firstLine(err.message)}`);
  }
}

/** Resolve `p`, or reject after `ms` with a message saying what was being waited for. */
function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RetryableError(`no answer from ${what} within ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Read the env repository once before serving: wrong credentials, a repository that does not exist
 * or a host that does not answer stop the start with one line naming the setting to fix.
 */
export async function checkEnvRepo(envRepo: EnvRepo, settings: Settings, env: Env): Promise<void> {
  if (envRepo.embedded) return;
  const kind = envRepo.forge.kind;
  const where = kind === 'github' ? (env['GITHUB_API_URL'] ?? 'https://api.github.com') : kind === 'gitlab' ? (env['GITLAB_URL'] ?? 'https://gitlab.com') : envRepo.label;
  const limit = kind === 'git' ? settings.BATON_GIT_TIMEOUT : settings.BATON_FORGE_TIMEOUT;
  try {
    await bounded(envRepo.forge.defaultBranch(envRepo.repo), limit, where);
  } catch (e) {
    const err = e as Error;
    const status = err instanceof ForgeError ? err.status : undefined;
    const cred = credentialSetting(kind, env);
    if (status === 401) throw new StartupError(`${cred}: ${kind === 'github' ? 'GitHub' : 'GitLab'} refused the credentials (401); check ${cred}`);
    if (kind !== 'git' && (status === 403 || status === 404)) {
      throw new StartupError(`BATON_ENV_REPO=${envRepo.label}: not found, or ${cred} may not read it (${status}); check the name and the token's access`);
    }
    if (kind === 'git') throw new StartupError(`BATON_ENV_REPO=${envRepo.label}: cannot read the repository: ${firstLine(err.message)}`);
    const setting = kind === 'github' ? 'GITHUB_API_URL' : 'GITLAB_URL';
    throw new StartupError(`BATON_ENV_REPO=${envRepo.label}: cannot reach ${where}: ${firstLine(err.message)} (check ${setting} and the network)`);
  }
}
