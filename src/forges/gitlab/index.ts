/** The GitLab forge from settings (docs/gitlab.md): `GITLAB_URL`, `GITLAB_TOKEN`, and Baton's GitLab username. */

import { ForgeError } from '../types.js';
import type { RetryPolicy } from './http.js';
import { GitlabForge } from './gitlab-forge.js';

export { GitlabForge, GITLAB_NOTE_LIMIT, gitlabState, roleFromAccessLevel, truncateNote } from './gitlab-forge.js';
export type { GitlabForgeOptions } from './gitlab-forge.js';
export { GitlabApiError, retryAfterMs } from './http.js';
export type { RetryPolicy } from './http.js';

export interface GitlabSettings {
  GITLAB_URL?: string | undefined;
  GITLAB_TOKEN?: string | undefined;
  /** The token's username; when unset it is asked of `GET /user` once. */
  BATON_GITLAB_BOT_USERNAME?: string | undefined;
}

export const DEFAULT_GITLAB_URL = 'https://gitlab.com';

/** `BATON_ENV_REPO=gitlab:group/sub/name` → this forge, with `repo` = `group/sub/name`. */
export function createGitlabForge(settings: GitlabSettings, options: { retry?: Partial<RetryPolicy> } = {}): GitlabForge {
  const token = settings.GITLAB_TOKEN?.trim();
  if (!token) throw new ForgeError('GITLAB_TOKEN is not set: Baton needs a GitLab access token with the api scope to write to a GitLab project', 500);
  const url = (settings.GITLAB_URL?.trim() || DEFAULT_GITLAB_URL).replace(/\/+$/, '').replace(/\/api\/v4$/, '');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ForgeError('GITLAB_URL is not a URL', 500);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new ForgeError('GITLAB_URL must be an http(s) URL', 500);
  if (parsed.username || parsed.password) throw new ForgeError('GITLAB_URL must not carry credentials; put the token in GITLAB_TOKEN', 500);
  const bot = settings.BATON_GITLAB_BOT_USERNAME?.trim();
  return new GitlabForge({ url, token, ...(bot && { botUsername: bot }), ...(options.retry && { retry: options.retry }) });
}
