import { describe, expect, it } from 'vitest';
import { plan } from '../../src/core/plan.js';
import type { SetImage } from '../../src/core/intent.js';
import { accepts, compareTags, extractValue } from '../../src/core/policy.js';
import type { TagPolicy } from '../../src/core/policy.js';

const semverPolicy = (range?: string): TagPolicy => ({ policy: 'semver', ...(range !== undefined && { range }) });

describe('semver policy', () => {
  it.each([
    ['1.4.2', undefined, true],
    ['v1.4.2', undefined, true],
    ['latest', undefined, false],
    ['1.4', undefined, false],
    ['1.5.0', '>=1.0.0 <2.0.0', true],
    ['2.0.0', '>=1.0.0 <2.0.0', false],
    ['0.9.9', '^1.0.0', false],
    ['1.9.0', '~1.9.0', true],
    ['1.10.0', '~1.9.0', false],
  ])('%s with range %s → accepted %s', (tag, range, ok) => {
    expect(accepts(semverPolicy(range), tag).ok).toBe(ok);
  });

  it('takes prereleases only when the range names one of the same version (npm semantics)', () => {
    expect(accepts(semverPolicy(), '2.0.0-rc.1')).toEqual({ ok: false, reason: 'tag 2.0.0-rc.1 is a prerelease and no range asks for prereleases', code: 'out-of-range' });
    expect(accepts(semverPolicy('>=1.0.0'), '2.0.0-rc.1').ok).toBe(false);
    expect(accepts(semverPolicy('>=2.0.0-0'), '2.0.0-rc.1').ok).toBe(true);
    // The range's prerelease is for 2.0.0 only: a 2.1.0 prerelease stays out.
    expect(accepts(semverPolicy('>=2.0.0-0'), '2.1.0-rc.1').ok).toBe(false);
    expect(accepts(semverPolicy('^1.0.0'), '1.2.0-beta.1')).toEqual({ ok: false, reason: 'tag 1.2.0-beta.1 is a prerelease the range does not ask for ^1.0.0', code: 'out-of-range' });
  });

  it('orders by precedence, not by text', () => {
    expect(compareTags(semverPolicy(), '1.10.0', '1.9.0')).toBe(1);
    expect(compareTags(semverPolicy(), '2.0.0-rc.2', '2.0.0-rc.10')).toBe(-1);
    expect(compareTags(semverPolicy(), '2.0.0', '2.0.0-rc.10')).toBe(1);
    expect(compareTags(semverPolicy(), 'v1.2.3', '1.2.3')).toBe(0);
    // Moving off a non-semver tag like `latest` is an upgrade, so a file that starts there can be bumped.
    expect(compareTags(semverPolicy(), '1.0.0', 'latest')).toBe(1);
  });
});

describe('regex, numerical and alphabetical policies', () => {
  const ci: TagPolicy = { policy: 'numerical', pattern: '^main-(?<sha>[0-9a-f]{7})-(?<ts>\\d+)$', extract: '$ts' };

  it('extracts the named group and compares it as a number, not as text', () => {
    expect(extractValue(ci, 'main-abc1234-1700000000')).toBe('1700000000');
    expect(compareTags(ci, 'main-abc1234-1700000123', 'main-fff0000-999999999')).toBe(1);
    expect(compareTags(ci, 'main-abc1234-1700000000', 'main-abc1234-1700000001')).toBe(-1);
    // Nanosecond timestamps exceed 2^53: compared exactly.
    expect(compareTags(ci, 'main-abc1234-1700000000000000001', 'main-abc1234-1700000000000000000')).toBe(1);
  });

  it('accepts Flux-style (?P<name>) groups and ${name} extracts', () => {
    const flux: TagPolicy = { policy: 'numerical', pattern: '^main-[a-f0-9]+-(?P<ts>[0-9]+)', extract: '${ts}' };
    expect(extractValue(flux, 'main-abc1234-42')).toBe('42');
    expect(compareTags(flux, 'main-abc1234-100', 'main-abc1234-99')).toBe(1);
  });

  it('rejects tags the pattern does not match or that give no number, with a reason', () => {
    expect(accepts(ci, 'feature-x-1700000000')).toEqual({ ok: false, reason: 'tag feature-x-1700000000 does not match ^main-(?<sha>[0-9a-f]{7})-(?<ts>\\d+)$', code: 'not-matching' });
    const loose: TagPolicy = { policy: 'numerical', pattern: '^build-(?<n>.*)$', extract: '$n' };
    expect(accepts(loose, 'build-')).toEqual({ ok: false, reason: 'tag build- gives , which is not a number', code: 'not-matching' });
    expect(accepts(loose, 'build-12').ok).toBe(true);
  });

  it('compares alphabetical extracts in code-unit order', () => {
    const dated: TagPolicy = { policy: 'alphabetical', pattern: '^rel-(?<d>\\d{4}-\\d{2}-\\d{2})$', extract: '$d' };
    expect(compareTags(dated, 'rel-2024-11-02', 'rel-2024-10-30')).toBe(1);
    expect(accepts(dated, 'rel-24-1-1').ok).toBe(false);
  });

  it('leaves plain regex and sha policies unordered (the later event wins)', () => {
    expect(compareTags({ policy: 'regex', pattern: '^main-' }, 'main-b', 'main-a')).toBe(0);
    expect(accepts({ policy: 'sha' }, '3f2c1d0').ok).toBe(true);
    expect(accepts({ policy: 'sha' }, 'v1.0.0')).toEqual({ ok: false, reason: 'tag v1.0.0 is not a commit sha', code: 'not-matching' });
  });

  it('applies allow and ignore lists before the policy', () => {
    expect(accepts({ policy: 'semver', ignore: ['1.4.3'] }, '1.4.3')).toEqual({ ok: false, reason: 'tag 1.4.3 is on the ignore list', code: 'ignored-tag' });
    expect(accepts({ policy: 'semver', allow: ['1.4.2'] }, '1.4.3')).toEqual({ ok: false, reason: 'tag 1.4.3 is not on the allow list', code: 'not-allowed' });
    expect(accepts({ policy: 'semver', allow: ['1.4.2'] }, '1.4.2').ok).toBe(true);
  });
});

describe('plan never downgrades unless asked to', () => {
  const file = 'envs/staging/web/kustomization.yaml';
  const kustomization = 'images:\n  - name: registry.example.com/team/web\n    newTag: 1.10.0\n';
  const intent = (tag: string, mode: SetImage['mode'], policy: TagPolicy): SetImage => ({
    type: 'set-image',
    destination: { branch: 'main', write: 'commit' },
    env: 'staging',
    image: 'web',
    repository: 'registry.example.com/team/web',
    tag,
    digestMode: 'ignore',
    mode,
    policy,
    targets: [{ file }],
    cause: { source: 'registry/distribution', deliveryId: 'd-1' },
  });

  it('skips an older semver tag with the reason, and writes nothing', () => {
    const cs = plan([intent('1.9.0', 'upgrade', { policy: 'semver' })], { [file]: kustomization });
    expect(cs.changes).toEqual([]);
    expect(cs.skipped.map((s) => s.reason)).toEqual(['staging already runs 1.10.0, newer than 1.9.0']);
  });

  it('rolls back when the intent is exact', () => {
    const cs = plan([intent('1.9.0', 'exact', { policy: 'semver' })], { [file]: kustomization });
    expect(cs.changes).toEqual([{ type: 'write', path: file, contents: kustomization.replace('1.10.0', '1.9.0') }]);
  });

  it('refuses an older numerical CI tag even though it sorts later as text', () => {
    const ci: TagPolicy = { policy: 'numerical', pattern: '^main-(?<sha>[0-9a-f]{7})-(?<ts>\\d+)$', extract: '$ts' };
    const files = { [file]: 'images:\n  - name: registry.example.com/team/web\n    newTag: main-abc1234-1700000000\n' };
    expect(plan([intent('main-fff9999-999999999', 'upgrade', ci)], files).changes).toEqual([]);
    expect(plan([intent('main-0000000-1700000001', 'upgrade', ci)], files).changes).toHaveLength(1);
  });
});
