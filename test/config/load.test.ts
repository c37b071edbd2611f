import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigIndex } from '../../src/config/index.js';
import { ConfigStore, formatMessage, parseConfig } from '../../src/config/load.js';
import { jsonSchema } from '../../src/config/schema.js';

const example = readFileSync(new URL('../../examples/env-repo/.baton.yml', import.meta.url), 'utf8');

function messages(text: string): string[] {
  const r = parseConfig(text);
  return r.ok ? [] : r.messages.map((m) => formatMessage('.baton.yml', m));
}

describe('.baton.yml', () => {
  it('accepts the example repository config and fills defaults', () => {
    const r = parseConfig(example);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.config.environments['production']).toMatchObject({ write: 'merge-request', promoteFrom: 'staging', approvers: ['maintain', 'admin'] });
    expect(r.config.images['web']).toMatchObject({ policy: 'semver', digest: 'pin' });
    expect(r.config.previews['web']).toMatchObject({ trigger: 'auto', forks: 'command', ttl: '7d', label: 'preview' });
  });

  it('points at the offending path and line', () => {
    const text = 'version: 1\nenvironments:\n  staging: {}\nimages:\n  web:\n    repository: r.example.com/web\n    policy: newest\n    targets:\n      staging: [k.yaml]\n';
    const m = messages(text);
    expect(m).toHaveLength(1);
    expect(m[0]).toMatch(/^\.baton\.yml:7:13: images\.web\.policy: /);
  });

  it('reports typos, unknown environments, bad ranges, unsafe paths and names', () => {
    const text = [
      'version: 1',
      'environments:',
      '  staging:',
      '    aprovers: [admin]',
      '  Prod!: {}',
      'images:',
      '  web:',
      '    repository: r.example.com/web',
      '    range: "not a range"',
      '    targets:',
      '      qa: [k.yaml]',
      '      staging: [../../etc/passwd]',
      '',
    ].join('\n');
    const all = messages(text).join('\n');
    expect(all).toContain(":4:5: environments.staging.aprovers: unknown key \"aprovers\"; did you mean `approvers`?");
    expect(all).toMatch(/environments\.Prod!: invalid name "Prod!": use lowercase letters/);
    expect(all).toMatch(/images\.web\.range: not a semver range/);
    expect(all).toMatch(/images\.web\.targets\.staging\.0: must be a relative path inside the repository/);
  });

  it('checks references between sections once each section is valid', () => {
    const text = 'version: 1\nenvironments:\n  staging: {}\n  production: {promoteFrom: qa}\nimages:\n  web:\n    repository: r.example.com/web\n    targets:\n      qa: [k.yaml]\n';
    const all = messages(text).join('\n');
    expect(all).toMatch(/\.baton\.yml:4:29: environments\.production\.promoteFrom: unknown environment qa/);
    expect(all).toMatch(/\.baton\.yml:9:11: images\.web\.targets\.qa: unknown environment qa/);
  });

  it('accepts Flux-style named groups in patterns and rejects broken ones', () => {
    const base = 'version: 1\nenvironments:\n  staging: {}\nimages:\n  web:\n    repository: r.example.com/web\n    policy: numerical\n    targets:\n      staging: [k.yaml]\n';
    expect(messages(base + "    pattern: '^main-[a-f0-9]+-(?P<ts>\\d+)$'\n    extract: '$ts'\n")).toEqual([]);
    expect(messages(base + "    pattern: '^main-(['\n")[0]).toMatch(/images\.web\.pattern: not a valid regular expression/);
  });

  it('reports YAML syntax errors with their position', () => {
    expect(messages('version: 1\nenvironments: [\n')[0]).toMatch(/^\.baton\.yml:\d+:\d+: /);
    expect(messages('version: 1\nversion: 1\nenvironments: {}\n')[0]).toMatch(/^\.baton\.yml:2:1: .*[Mm]ap keys must be unique/);
  });

  it('keeps the last valid config when a new one is invalid', () => {
    const store = new ConfigStore();
    expect(store.update(example, 'rev1')).toEqual({ ok: true, changed: true });
    const bad = store.update('version: 2\n', 'rev2');
    expect(bad.ok).toBe(false);
    expect(store.revision).toBe('rev1');
    expect(Object.keys(store.config?.images ?? {})).toEqual(['web']);
    expect(store.update(example, 'rev1')).toEqual({ ok: true, changed: false });
  });

  it('indexes images by normalized repository for routing', () => {
    const r = parseConfig(example);
    if (!r.ok) throw new Error('example invalid');
    const index = new ConfigIndex(r.config, 'main', new Set(['production']));
    const [web] = index.imagesByRepository('localhost:5000/team/web');
    expect(web?.envs.map((e) => [e.env, e.destination, e.paused])).toEqual([
      ['staging', { branch: 'main', write: 'commit' }, false],
      ['production', { branch: 'main', write: 'merge-request', env: 'production' }, true],
    ]);
    expect(index.imagesByRepository('docker.io/library/nginx')).toEqual([]);
  });

  it('ships a JSON Schema that matches the zod schema (run `npm run schema` after changing it)', () => {
    const shipped = JSON.parse(readFileSync(new URL('../../docs/baton.schema.json', import.meta.url), 'utf8')) as unknown;
    expect(shipped).toEqual(jsonSchema());
  });
});

describe('a hostile .baton.yml', () => {
  it('reports an alias bomb as invalid instead of throwing or expanding it', () => {
    const levels = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 9; i++) levels.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array.from({ length: 9 }, () => `*${String.fromCharCode(96 + i)}`).join(',')}]`);
    const result = parseConfig(`version: 1\n${levels.join('\n')}\n`);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.messages[0]?.message).toMatch(/cannot be read|alias/i);
  });
});
