/**
 * Nothing lost on the API forges, over HTTP: an outage longer than the client's own retries, a
 * request that never gets an answer, and a refusal for good — on the GitHub and GitLab emulators.
 * The event lands once the forge is back, or is parked as a dead letter with the forge's words and
 * worked again when the sender redelivers it.
 */

import { afterEach, describe, expect, it } from 'vitest';
import { REGISTRY_AUTH, distributionPush, eventually, kustomization, oneImageConfig, startTestBaton } from '../helpers/baton.js';
import type { TestBaton } from '../helpers/baton.js';
import { emulatedGitHub } from '../emulators/github/harness.js';
import { startGitlabEmulator } from '../emulators/gitlab/server.js';
import type { GitlabEmulator } from '../emulators/gitlab/server.js';
import type { EmulatedGitHub } from '../emulators/github/harness.js';

const HOST = 'registry.example.com';
const IMAGE = `${HOST}/team/web`;
const TARGET = 'envs/staging/kustomization.yaml';
const seed = { '.baton.yml': oneImageConfig(IMAGE), [TARGET]: kustomization(IMAGE, '1.0.0') };

interface Harness {
  name: string;
  baton: TestBaton;
  failNext(n: number, status: number): void;
  hangNext(n: number): void;
  clear(): void;
  tag(): Promise<string | undefined>;
  close(): Promise<void>;
}

async function onGitHub(env: Record<string, string>): Promise<Harness> {
  const gh: EmulatedGitHub = await emulatedGitHub(seed);
  const baton = await startTestBaton({ envRepo: { forge: gh.forge, repo: gh.repo, label: 'github:acme/env', embedded: false }, env });
  return {
    name: 'GitHub',
    baton,
    failNext: (n, status) => gh.emulator.faults.failNext(n, status),
    hangNext: (n) => gh.emulator.faults.hangNext(n),
    clear: () => gh.emulator.faults.clear(),
    tag: async () => /newTag: "([^"]+)"/.exec(await gh.emulator.state.repo('acme', 'env')!.testRepo.show('main', TARGET))?.[1],
    close: async () => {
      await baton.close();
      await gh.emulator.close();
    },
  };
}

async function onGitLab(env: Record<string, string>): Promise<Harness> {
  const emu: GitlabEmulator = await startGitlabEmulator({ botUsername: 'baton-bot' });
  const project = await emu.addProject('platform/env', seed);
  const baton = await startTestBaton({ env: { BATON_ENV_REPO: 'gitlab:platform/env', GITLAB_URL: emu.url, GITLAB_TOKEN: emu.token, ...env } });
  return {
    name: 'GitLab',
    baton,
    failNext: (n, status) => emu.failNext(n, status),
    hangNext: (n) => emu.hangNext(n),
    clear: () => emu.failNext(0),
    tag: async () => /newTag: "([^"]+)"/.exec(await project.repo.show('main', TARGET))?.[1],
    close: async () => {
      await baton.close();
      await emu.close();
    },
  };
}

const push = (t: TestBaton, id: string, tag: string) => t.post('/webhooks/registry/distribution', distributionPush(id, HOST, 'team/web', tag), REGISTRY_AUTH);
const open: Harness[] = [];
afterEach(async () => {
  for (const h of open.splice(0)) await h.close();
});

for (const make of [onGitHub, onGitLab]) {
  describe(`nothing lost on the ${make === onGitHub ? 'GitHub' : 'GitLab'} emulator`, () => {
    it('an outage longer than the client’s own retries: the event waits, then lands once', async () => {
      const h = await make({ BATON_DEBOUNCE_MS: '50' });
      open.push(h);
      h.failNext(40, 502);
      expect((await push(h.baton, 'outage-1', '1.1.0')).status).toBe(202);
      await eventually(() => h.baton.baton.pipeline.queue.stats().retrying > 0, 20_000, 'a retry to be scheduled');
      expect(await h.tag()).toBe('1.0.0');
      h.clear();
      await h.baton.idle(30_000);
      expect(await h.tag()).toBe('1.1.0');
      expect(h.baton.baton.pipeline.queue.stats()).toMatchObject({ pending: 0, dead: 0 });
      expect(h.baton.outcomes.filter((o) => o.status === 'committed')).toHaveLength(1);
    });

    it('a request that is never answered is abandoned after BATON_FORGE_TIMEOUT and tried again', async () => {
      const h = await make({ BATON_DEBOUNCE_MS: '50', BATON_FORGE_TIMEOUT: '1s' });
      open.push(h);
      h.hangNext(1);
      expect((await push(h.baton, 'hang-1', '1.2.0')).status).toBe(202);
      await h.baton.idle(30_000);
      expect(await h.tag()).toBe('1.2.0');
      expect(h.baton.baton.pipeline.queue.stats().dead).toBe(0);
    });

    it('a refusal for good is parked with the forge’s words; the sender’s redelivery is worked', async () => {
      const h = await make({ BATON_DEBOUNCE_MS: '50' });
      open.push(h);
      h.failNext(40, 403);
      expect((await push(h.baton, 'refused-1', '1.3.0')).status).toBe(202);
      await eventually(() => h.baton.baton.pipeline.queue.stats().dead === 1, 20_000, 'a dead letter');
      expect(h.baton.baton.pipeline.queue.deadLetters()[0]?.reason).toMatch(/403|Server Error|Emulated failure/);
      expect(await h.tag()).toBe('1.0.0');
      h.clear();
      const again = await push(h.baton, 'refused-1', '1.3.0');
      expect(JSON.stringify(again.json)).not.toContain('duplicate');
      await h.baton.idle(30_000);
      expect(await h.tag()).toBe('1.3.0');
      expect(h.baton.baton.pipeline.queue.stats().dead).toBe(0);
    });
  });
}
