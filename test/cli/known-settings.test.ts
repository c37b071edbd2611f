/** Unknown BATON_* settings: the known list is the code's, and a typo is told the name it meant. */

import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { knownSettingNames, suggestSetting, unknownSettings } from '../../src/cli/known-settings.js';
import { ROOT } from './helpers.js';

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await sources(p)));
    else if (e.name.endsWith('.ts')) out.push(p);
  }
  return out;
}

describe('known settings', () => {
  it('include every BATON_* name the code reads from the environment', async () => {
    const read = new Set<string>();
    for (const file of await sources(join(ROOT, 'src'))) {
      const text = await readFile(file, 'utf8');
      // env['BATON_X'], env.BATON_X, settings.BATON_X, and keys of settings schemas and interfaces (`BATON_X?: …`).
      for (const m of text.matchAll(/\b(?:env|settings|\w+Settings)(?:\[['"`](BATON_[A-Z0-9_]+)['"`]\]|\.(BATON_[A-Z0-9_]+))/g)) read.add((m[1] ?? m[2]) as string);
      for (const m of text.matchAll(/^\s*(BATON_[A-Z0-9_]+)\??:/gm)) if (m[1]) read.add(m[1]);
    }
    const notSettings = new Set<string>();
    const known = new Set(knownSettingNames());
    const missing = [...read].filter((n) => !notSettings.has(n) && !known.has(n));
    expect(missing, 'read by the code but unknown to src/cli/known-settings.ts (add them to the settings schema or SETTINGS_READ_ELSEWHERE)').toEqual([]);
  });

  it('tell a typo the name it meant', () => {
    expect(suggestSetting('BATON_ENV_REPOSITORY')).toBe('BATON_ENV_REPO');
    expect(suggestSetting('BATON_DEBOUNCE')).toBe('BATON_DEBOUNCE_MS');
    expect(suggestSetting('BATON_REGSTRY_TOKEN')).toBe('BATON_REGISTRY_TOKEN');
    expect(suggestSetting('BATON_LOG_LEVEL')).toBe('LOG_LEVEL');
    expect(suggestSetting('BATON_PORT')).toBe('PORT');
    expect(suggestSetting('BATON_COMPLETELY_UNRELATED_THING')).toBeUndefined();
  });

  it('accept every known name and the per-registry tokens, and flag only BATON_* names', () => {
    const env = Object.fromEntries(knownSettingNames().map((n) => [n, 'x']));
    expect(unknownSettings({ ...env, BATON_REGISTRY_TOKEN_HARBOR: 'x', HOME: '/root', GITHUB_TOKENN: 'x' })).toEqual([]);
    expect(unknownSettings({ BATON_ENV_REPOSITORY: 'github:acme/env', BATON_FOO: '' })).toEqual([
      'unknown setting BATON_ENV_REPOSITORY — did you mean BATON_ENV_REPO?',
      'unknown setting BATON_FOO (docs/configuration.md lists the settings)',
    ]);
  });
});
