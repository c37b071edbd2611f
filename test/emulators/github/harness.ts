/** An emulator with one env repo and a Baton token, and the adapter pointed at it with millisecond waits. */

import type { ClientTuning } from '../../../src/forges/github/index.js';
import { GitHubForge, githubForgeFromSettings } from '../../../src/forges/github/index.js';
import { startGitHubEmulator } from './server.js';
import type { GitHubEmulator } from './server.js';

/** Retry-After seconds and backoff become milliseconds; writes are not spaced. */
export const FAST: ClientTuning = { timeUnitMs: 1, writeSpacingMs: 0, retries: 5, rateLimitRetries: 5 };

export const BATON_LOGIN = 'baton-bot';

export interface EmulatedGitHub {
  emulator: GitHubEmulator;
  forge: GitHubForge;
  repo: string;
  token: string;
}

export async function emulatedGitHub(seed: Record<string, string>, options: { repo?: string; tuning?: ClientTuning } = {}): Promise<EmulatedGitHub> {
  const emulator = await startGitHubEmulator();
  const repo = options.repo ?? 'acme/env';
  await emulator.createRepo(repo, seed);
  const token = emulator.addUser(BATON_LOGIN);
  emulator.grant(repo, BATON_LOGIN, 'write');
  const forge = githubForgeFromSettings({ GITHUB_TOKEN: token, GITHUB_API_URL: emulator.url }, { tuning: options.tuning ?? FAST });
  if (!(forge instanceof GitHubForge)) throw new Error('expected a token-mode GitHub forge');
  return { emulator, forge, repo, token };
}
