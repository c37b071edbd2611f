import { describe, expect, it } from 'vitest';
import type { OciClient } from '../../src/registry/index.js';
import { TEST_TOKEN, kustomization, oneImageConfig, startTestBaton } from '../helpers/baton.js';

const REPO = 'registry.example.com/team/web';
const DIGEST = `sha256:${'d'.repeat(64)}`;

/** A registry that knows one tag; every other tag is "not found". */
const registry: OciClient & { asked: string[] } = {
  asked: [],
  async resolveDigest(image, tag) {
    this.asked.push(`${image}:${tag}`);
    if (tag === '1.1.0') return DIGEST;
    throw new Error(`${image}:${tag} not found`);
  },
  async listTags() {
    return ['1.1.0'];
  },
};

function push(id: string, tag: string) {
  return { events: [{ id, action: 'push', target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', repository: 'team/web', tag }, request: { host: 'registry.example.com' } }] };
}

describe('digest: pin when the event carries no digest', () => {
  it('asks the registry and pins what it serves; a tag it cannot resolve is not written', async () => {
    const t = await startTestBaton({
      seed: { '.baton.yml': oneImageConfig(REPO, '    digest: pin\n'), 'envs/staging/kustomization.yaml': kustomization(REPO, '1.0.0') },
      registry,
    });
    try {
      expect((await t.post('/webhooks/registry/distribution', push('a', '1.1.0'), { authorization: `Bearer ${TEST_TOKEN}` })).status).toBe(202);
      await t.idle();
      const file = await t.repo!.show('main', 'envs/staging/kustomization.yaml');
      expect(file).toContain('newTag: "1.1.0"');
      // The inserted key follows the quoting of its sibling newTag.
      expect(file).toContain(`    newTag: "1.1.0"\n    digest: "${DIGEST}"\n`);
      expect(await t.repo!.message('main')).toContain(`Baton-Image: ${REPO}:1.1.0@${DIGEST}`);

      const head = await t.repo!.head();
      expect((await t.post('/webhooks/registry/distribution', push('b', '1.2.0'), { authorization: `Bearer ${TEST_TOKEN}` })).status).toBe(202);
      await t.idle();
      expect(await t.repo!.head()).toBe(head);
      expect(t.outcomes.at(-1)?.problems.map((p) => p.message)).toEqual([
        'envs/staging/kustomization.yaml was not written: digest: pin is set but no digest is known for 1.2.0',
      ]);
      expect(registry.asked).toEqual([`${REPO}:1.1.0`, `${REPO}:1.2.0`]);
    } finally {
      await t.close();
    }
  });

  it('a burst of tags for one image asks the registry only for the version that wins the batch', async () => {
    const asked: string[] = [];
    const anyTag: OciClient = {
      async resolveDigest(image, tag) {
        asked.push(`${image}:${tag}`);
        return `sha256:${tag.replace(/\D/g, '').padEnd(64, '0').slice(0, 64)}`;
      },
      async listTags() {
        return [];
      },
    };
    const t = await startTestBaton({
      seed: { '.baton.yml': oneImageConfig(REPO, '    digest: pin\n'), 'envs/staging/kustomization.yaml': kustomization(REPO, '1.0.0') },
      registry: anyTag,
      // One window must hold the whole burst: the tags are sent at once, and the window is wide
      // enough for a loaded machine to route all 30 inside it (sent one by one, they once took longer
      // than 1.5 s in CI and made two windows).
      env: { BATON_DEBOUNCE_MS: '4000' },
    });
    try {
      const tags = Array.from({ length: 30 }, (_, i) => `1.${(i * 7) % 30}.0`);
      const replies = await Promise.all(tags.map((tag, n) => t.post('/webhooks/registry/distribution', push(`burst-${n}`, tag), { authorization: `Bearer ${TEST_TOKEN}` })));
      expect(replies.map((r) => r.status)).toEqual(tags.map(() => 202));
      await t.idle();
      expect(await t.repo!.show('main', 'envs/staging/kustomization.yaml')).toContain('newTag: "1.29.0"');
      expect(t.outcomes.filter((o) => o.status === 'committed')).toHaveLength(1);
      // One registry request for the winner, not one per pushed tag.
      expect(asked).toEqual([`${REPO}:1.29.0`]);
      expect(t.outcomes.flatMap((o) => o.skipped.filter((s) => s.code === 'superseded'))).toHaveLength(29);
    } finally {
      await t.close();
    }
  });
});
