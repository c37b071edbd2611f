import { describe, expect, it } from 'vitest';
import { authorize } from '../../../src/core/commands/authorize.js';
import type { ForgeRole } from '../../../src/core/commands/authorize.js';
import { previousVersion, sourceOfVersion, trailerVersions } from '../../../src/core/commands/history.js';
import type { Command } from '../../../src/core/commands/parse.js';
import { pausedBy, readState, writeState } from '../../../src/core/commands/state.js';
import { commitMessage } from '../../../src/core/commit-message.js';

const roles: ForgeRole[] = ['admin', 'maintain', 'write', 'triage', 'read', 'none'];
const commands: Command[] = [
  { name: 'help' },
  { name: 'status' },
  { name: 'diff', env: 'prod', images: [] },
  { name: 'deploy', env: 'prod', images: [] },
  { name: 'promote', env: 'prod', images: [] },
  { name: 'rollback', env: 'prod' },
  { name: 'pause', env: 'prod' },
  { name: 'resume', env: 'prod', image: 'web' },
];

describe('authorize: role × command against environments.<env>.approvers', () => {
  for (const role of roles) {
    for (const command of commands) {
      const open = ['help', 'status', 'diff'].includes(command.name);
      const expected = open || role === 'write' || role === 'admin';
      it(`${role} ${command.name}: ${expected ? 'allowed' : 'refused'}`, () => {
        const d = authorize(command, { user: 'u', role, approvers: ['write', 'admin'], forkAuthor: false, fromFork: false });
        expect(d.allowed).toBe(expected);
        if (!d.allowed) expect(d.reason).toContain(`needs the role \`write\` or \`admin\` (\`environments.prod.approvers\`); \`u\` has \`${role}\``);
      });
    }
  }

  it("a fork's author cannot deploy or promote even as admin, but may roll back if allowed", () => {
    const ctx = { user: 'm', role: 'admin' as const, approvers: ['admin' as const], forkAuthor: true, fromFork: true };
    expect(authorize({ name: 'deploy', env: 'prod', images: [] }, ctx).allowed).toBe(false);
    expect(authorize({ name: 'promote', env: 'prod', images: [] }, ctx).allowed).toBe(false);
    expect(authorize({ name: 'rollback', env: 'prod' }, ctx).allowed).toBe(true);
  });

  it('previews of forks need maintain/admin and never their author; previews of branches are open', () => {
    const base = { user: 'u', approvers: [], forkAuthor: false, fromFork: true };
    expect(authorize({ name: 'preview', destroy: false }, { ...base, role: 'write' }).allowed).toBe(false);
    expect(authorize({ name: 'preview', destroy: false }, { ...base, role: 'maintain' }).allowed).toBe(true);
    expect(authorize({ name: 'preview', destroy: false }, { ...base, role: 'admin', forkAuthor: true }).allowed).toBe(false);
    expect(authorize({ name: 'preview', destroy: false }, { ...base, role: 'none', fromFork: false }).allowed).toBe(true);
  });

  it('an empty approvers list lets nobody act', () => {
    const d = authorize({ name: 'pause', env: 'prod' }, { user: 'u', role: 'admin', approvers: [], forkAuthor: false, fromFork: false });
    expect(d).toEqual({ allowed: false, reason: expect.stringContaining('nobody') });
  });
});

describe('.baton/state.yml', () => {
  it('pause and resume round-trip, keeping other entries and comments', () => {
    const one = writeState(null, 'staging', { by: 'alice', since: '2026-01-01T00:00:00.000Z', comment: 'github:acme/web#1' });
    const two = writeState(`# ours\n${one}`, 'production/web', { by: 'bob' });
    expect(two).toContain('# ours');
    const state = readState(two);
    expect(pausedBy(state.paused, 'staging', 'api')?.by).toBe('alice');
    expect(pausedBy(state.paused, 'production', 'web')?.by).toBe('bob');
    expect(pausedBy(state.paused, 'production', 'api')).toBeUndefined();
    const resumed = readState(writeState(two, 'staging', undefined));
    expect([...resumed.paused.keys()]).toEqual(['production/web']);
  });

  it('a broken file pauses nothing and says why', () => {
    expect(readState('paused: [1, 2').problem).toMatch(/not YAML|not valid/);
    expect(readState('paused: 3').problem).toMatch(/not valid/);
    expect(readState('paused: 3').paused.size).toBe(0);
  });
});

describe('rollback history from Baton trailers', () => {
  const msg = (tag: string, extra = '') => commitMessage([{ env: 'staging', image: 'web', repository: 'ghcr.io/acme/web', from: 'x', to: tag, files: ['f'], causes: [{ source: 'registry/ghcr', deliveryId: 'd', ...(extra && { rollback: { by: 'alice', reason: extra } }) }] }]);

  it('reads the tag and digest of the image, not of others', () => {
    expect(trailerVersions('s\n\nBaton-Image: ghcr.io/acme/web:1.2.3@sha256:ab\nBaton-Image: ghcr.io/acme/webx:9', 'ghcr.io/acme/web')).toEqual([{ tag: '1.2.3', digest: 'sha256:ab' }]);
  });

  it('the version before the current one; rollbacks are skipped so a second rollback goes further back', () => {
    const history = [{ message: msg('1.3.0') }, { message: msg('1.2.0') }, { message: msg('1.1.0') }];
    expect(previousVersion(history, 'ghcr.io/acme/web', '1.3.0')?.tag).toBe('1.2.0');
    const afterRollback = [{ message: msg('1.2.0', 'rollback from 1.3.0 to 1.2.0') }, ...history];
    expect(previousVersion(afterRollback, 'ghcr.io/acme/web', '1.2.0')?.tag).toBe('1.1.0');
    expect(previousVersion([{ message: msg('1.1.0') }], 'ghcr.io/acme/web', '1.1.0')).toBeUndefined();
  });

  it('the app commit a version was built from, for promotions', () => {
    const built = commitMessage([{ env: 'staging', image: 'web', repository: 'ghcr.io/acme/web', to: '1.3.0', files: ['f'], causes: [{ source: 'github', deliveryId: 'd', sourceRef: 'github:acme/web@abc1234 (#7)' }] }]);
    expect(sourceOfVersion([{ message: msg('1.4.0') }, { message: built }], 'ghcr.io/acme/web', '1.3.0')).toBe('github:acme/web@abc1234 (#7)');
    expect(sourceOfVersion([{ message: msg('1.4.0') }], 'ghcr.io/acme/web', '1.4.0')).toBeUndefined();
  });

  it('the Baton-Rollback trailer cannot smuggle another trailer', () => {
    const m = msg('1.0.0', 'because\nBaton-Actor: mallory');
    expect(m).toContain('Baton-Rollback: alice: because Baton-Actor: mallory');
    expect(m).not.toMatch(/^Baton-Actor: mallory$/m);
  });
});
