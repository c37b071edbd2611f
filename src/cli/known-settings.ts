/**
 * Which `BATON_*` names Baton reads, so a misspelt one is an error at start ("did you mean …?")
 * instead of a silently ignored setting. The settings schema (src/cli/settings.ts) is the main
 * source; the names read by the forge, registry and CD modules straight from the environment are
 * listed here once. test/cli/known-settings.test.ts checks that every name the code reads is known.
 */

import { closest, distance } from 'fastest-levenshtein';
import { REGISTRY_KINDS } from '../sources/registry/index.js';
import { SCHEMA_SETTING_NAMES } from './settings.js';
import type { Env } from './settings.js';

/** `BATON_*` names read outside the settings schema, by the module that reads them. */
export const SETTINGS_READ_ELSEWHERE: readonly string[] = [
  // src/forges/github, src/sources/github
  'BATON_BOT_LOGIN',
  // src/forges/gitlab, src/sources/gitlab
  'BATON_GITLAB_BOT_USERNAME',
  // src/sources/cd, src/app/reporter
  'BATON_ARGOCD_TOKEN',
  'BATON_ARGOCD_URL',
  'BATON_FLUX_SECRET',
  // src/sources/registry/settings.ts
  'BATON_GAR_AUDIENCE',
  'BATON_GAR_SERVICE_ACCOUNT',
  ...REGISTRY_KINDS.map((k) => `BATON_REGISTRY_TOKEN_${k.toUpperCase()}`),
  // src/registry/settings.ts
  'BATON_REGISTRY_CREDENTIALS',
  'BATON_REGISTRY_AUTH_FILE',
  'BATON_REGISTRY_INSECURE',
];

/** Settings that name a forge or an env repository: with any of them, Baton never falls back to the demo. */
export const FORGE_SETTINGS = ['BATON_ENV_REPO', 'GITHUB_TOKEN', 'APP_ID', 'PRIVATE_KEY', 'PRIVATE_KEY_PATH', 'GITLAB_TOKEN'] as const;

/** Every setting name Baton reads (BATON_* and the others: PORT, LOG_LEVEL, GITHUB_TOKEN, …). */
export function knownSettingNames(): string[] {
  return [...new Set([...SCHEMA_SETTING_NAMES, ...SETTINGS_READ_ELSEWHERE, ...FORGE_SETTINGS])].sort();
}

/** The closest known name, when it is close enough to be the one meant. */
export function suggestSetting(name: string, known: readonly string[] = knownSettingNames()): string | undefined {
  if (known.length === 0) return undefined;
  // A name that extends or shortens a known one (BATON_ENV_REPOSITORY, BATON_DEBOUNCE) is that one.
  const affix = known.filter((k) => name.startsWith(k) || k.startsWith(name) || name.endsWith(`_${k}`)).sort((a, b) => distance(name, a) - distance(name, b))[0];
  if (affix) return affix;
  const best = closest(name, known as string[]);
  const rest = (s: string) => s.replace(/^BATON_/, '');
  return distance(rest(name), rest(best)) <= Math.max(2, Math.floor(rest(name).length / 3)) ? best : undefined;
}

/** One message per unknown `BATON_*` variable in `env` (empty values count: they were set on purpose). */
export function unknownSettings(env: Env): string[] {
  const known = new Set(knownSettingNames());
  const out: string[] = [];
  for (const name of Object.keys(env).sort()) {
    if (!name.startsWith('BATON_') || known.has(name)) continue;
    const guess = suggestSetting(name);
    out.push(`unknown setting ${name}${guess ? ` — did you mean ${guess}?` : ' (docs/configuration.md lists the settings)'}`);
  }
  return out;
}
