/**
 * The GitHub forge from settings: a GitHub App (installation tokens through probot, commits show
 * as verified and authored by the App) or a plain token. `GITHUB_API_URL` selects GHES or an emulator.
 */

import { readFileSync } from 'node:fs';
import { Probot, ProbotOctokit } from 'probot';
import type { Logger } from 'pino';
import { ForgeError, RetryableError } from '../types.js';
import type { ClientTuning, GitHubApi } from './client.js';
import { asGitHubApi, createTokenClient, octokitTuningOptions, toForgeError } from './client.js';
import { GitHubForge } from './github-forge.js';
import type { RepoName } from './names.js';
import { isValidLogin } from './names.js';

export { GitHubForge, GITHUB_COMMENT_LIMIT, truncateComment } from './github-forge.js';
export type { GitHubForgeOptions } from './github-forge.js';
export { createTokenClient, toForgeError } from './client.js';
export type { ClientTuning, GitHubApi } from './client.js';
export { parseRepo } from './names.js';

/** The settings this module reads (docs/github.md lists them). */
export interface GitHubSettings {
  GITHUB_TOKEN?: string | undefined;
  APP_ID?: string | undefined;
  PRIVATE_KEY?: string | undefined;
  PRIVATE_KEY_PATH?: string | undefined;
  GITHUB_API_URL?: string | undefined;
  /** Baton's own login, when it cannot be asked of GitHub (or to skip asking). With a comma list, the first is the one Baton acts as. */
  BATON_BOT_LOGIN?: string | undefined;
}

export interface GitHubFactoryOptions {
  tuning?: ClientTuning;
  log?: Logger;
}

export type GitHubAuthMode = 'app' | 'token' | 'none';

export function githubAuthMode(settings: GitHubSettings): GitHubAuthMode {
  if (settings.APP_ID && (settings.PRIVATE_KEY || settings.PRIVATE_KEY_PATH)) return 'app';
  if (settings.GITHUB_TOKEN) return 'token';
  return 'none';
}

/** PEM from PRIVATE_KEY (raw, with literal `\n`, or base64) or PRIVATE_KEY_PATH, as probot accepts it. */
export function privateKeyFrom(settings: GitHubSettings, readFile: (path: string) => string = (p) => readFileSync(p, 'utf8')): string {
  const raw = settings.PRIVATE_KEY ?? (settings.PRIVATE_KEY_PATH ? readFile(settings.PRIVATE_KEY_PATH) : '');
  if (raw.includes('-----BEGIN')) return raw.replace(/\\n/g, '\n');
  const decoded = Buffer.from(raw, 'base64').toString('utf8');
  if (decoded.includes('-----BEGIN')) return decoded;
  throw new ForgeError('PRIVATE_KEY is not a PEM private key (raw or base64)', 500);
}

/** Memoize a per-key promise, forgetting failures so a transient error is retried next time. */
function memo<T>(fn: (key: string) => Promise<T>): (key: string) => Promise<T> {
  const cache = new Map<string, Promise<T>>();
  return (key) => {
    let p = cache.get(key);
    if (!p) {
      p = fn(key);
      cache.set(key, p);
      p.catch(() => cache.delete(key));
    }
    return p;
  };
}

/** The first login of BATON_BOT_LOGIN (the webhook source accepts a comma list of them). */
function configuredLogin(settings: GitHubSettings): string | undefined {
  const first = settings.BATON_BOT_LOGIN?.split(',')[0]?.trim();
  return first && isValidLogin(first) ? first : undefined;
}

function tokenForge(settings: GitHubSettings & { GITHUB_TOKEN: string }, options: GitHubFactoryOptions): GitHubForge {
  const configured = configuredLogin(settings);
  const api = createTokenClient({
    token: settings.GITHUB_TOKEN,
    ...(settings.GITHUB_API_URL && { baseUrl: settings.GITHUB_API_URL }),
    ...(options.tuning && { tuning: options.tuning }),
  });
  const login = memo(async () => {
    if (configured) return configured;
    // A token belongs to a user (or a machine user); Actions' GITHUB_TOKEN has no /user (403) and acts as `github-actions[bot]`.
    try {
      const res = await api.request('GET /user');
      const data = res.data as { login?: unknown };
      return typeof data.login === 'string' && isValidLogin(data.login) ? data.login : undefined;
    } catch (e) {
      const error = toForgeError('GET /user', e);
      if (error.status === 403 && !(error instanceof RetryableError)) return 'github-actions[bot]';
      // Anything else (5xx, network) is not an answer: fail now, ask again next time.
      throw error;
    }
  });
  return new GitHubForge({ client: async () => api, botLogin: () => login('') });
}

function appForge(settings: GitHubSettings & { APP_ID: string }, options: GitHubFactoryOptions): GitHubForge {
  const configured = configuredLogin(settings);
  const tuning = octokitTuningOptions(options.tuning, `app-${settings.APP_ID}`);
  const probot = new Probot({
    appId: settings.APP_ID,
    privateKey: privateKeyFrom(settings),
    ...(settings.GITHUB_API_URL && { baseUrl: settings.GITHUB_API_URL }),
    ...(options.log && { log: options.log }),
    Octokit: ProbotOctokit.defaults({ ...tuning }),
  });
  const appClient = memo(async () => probot.auth());
  const installationClient = memo(async (key: string): Promise<GitHubApi> => {
    const [owner, repo] = key.split('/');
    const app = await appClient('');
    const installation = await app.request('GET /repos/{owner}/{repo}/installation', { owner: owner ?? '', repo: repo ?? '' });
    // Installation tokens are cached and renewed by the auth strategy inside this client.
    return asGitHubApi(await probot.auth(installation.data.id));
  });
  const login = memo(async () => {
    if (configured) return configured;
    const app = await appClient('');
    const res = await app.request('GET /app');
    const slug = res.data?.slug;
    return slug ? `${slug}[bot]` : undefined;
  });
  return new GitHubForge({
    client: (r: RepoName) => installationClient(`${r.owner}/${r.name}`),
    botLogin: () => login(''),
  });
}

/** The GitHub forge for these settings, or undefined when neither an App nor a token is configured. */
export function githubForgeFromSettings(settings: GitHubSettings, options: GitHubFactoryOptions = {}): GitHubForge | undefined {
  const mode = githubAuthMode(settings);
  if (mode === 'app' && settings.APP_ID) return appForge({ ...settings, APP_ID: settings.APP_ID }, options);
  if (mode === 'token' && settings.GITHUB_TOKEN) return tokenForge({ ...settings, GITHUB_TOKEN: settings.GITHUB_TOKEN }, options);
  return undefined;
}
