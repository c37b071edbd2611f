import { createRequire } from 'node:module';
import type { WebhookDefinition } from '@octokit/webhooks-examples';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ImagePushed } from '../../../src/core/event.js';
import { BurstFilter, contentKey, parseGitHubPackageEvent, registrySources } from '../../../src/sources/registry/index.js';
import { MalformedPayload } from '../../../src/sources/types.js';
import { captured, delivery, events, fixture, IDX, ignoredReason, ONE } from './support.js';

// The package's main is a JSON file; require reads it the same way under vitest and tsc.
const webhookExamples = createRequire(import.meta.url)('@octokit/webhooks-examples') as WebhookDefinition[];

function parse(kind: string, body: unknown, headers: Record<string, string> = {}) {
  const source = registrySources[kind];
  if (!source) throw new Error(`no source ${kind}`);
  return source.parse(body, delivery(body, headers));
}

/** Every event a burst of bodies yields, in order. */
function burst(kind: string, bodies: unknown[]): { pushed: ImagePushed[]; reasons: string[] } {
  const pushed: ImagePushed[] = [];
  const reasons: string[] = [];
  for (const b of bodies) {
    const p = parse(kind, b);
    if (p.kind === 'events') pushed.push(...events(p));
    else reasons.push(p.reason);
  }
  return { pushed, reasons };
}

describe('distribution (CNCF registry notifications)', () => {
  it('turns the captured skopeo manifest push into one ImagePushed with the event id as delivery id', () => {
    const req = captured('distribution-v1-skopeo-manifest.json');
    const [e, ...rest] = events(parse('distribution', req.body));
    expect(rest).toHaveLength(0);
    expect(e).toEqual({
      type: 'image-pushed',
      source: 'registry/distribution',
      deliveryId: 'b7aef78f-55f3-4d37-b38f-b3779c402f00',
      registry: '127.0.0.1:5055',
      repository: 'team/web',
      tag: '1.2.3',
      digest: ONE,
      pushedAt: '2026-11-22T07:20:06.553Z',
    });
  });

  it('ignores the captured blob pushes', () => {
    for (const name of ['distribution-v1-skopeo-blob1.json', 'distribution-v1-skopeo-blob2.json']) {
      expect(ignoredReason(parse('distribution', captured(name).body))).toBe('blob push');
    }
  });

  it('yields exactly the index, with its digest, from a captured multi-arch push burst', () => {
    const requests = fixture('distribution-v1-skopeo-index-burst.json') as { body: unknown }[];
    expect(requests.length).toBeGreaterThan(4);
    const { pushed, reasons } = burst('distribution', requests.map((r) => r.body));
    expect(pushed.map((e) => [e.tag, e.digest])).toEqual([['2.0.0', IDX]]);
    expect(new Set(reasons)).toEqual(new Set(['blob push', 'pull event', 'manifest pushed by digest only']));
  });

  it('reads the v2 envelope of distribution 3.x: the tagged manifest counts, blob and tag delete do not', () => {
    const [e, ...rest] = events(parse('distribution', fixture('distribution-v2-envelope.json')));
    expect(rest).toHaveLength(0);
    expect(e).toMatchObject({ registry: 'registry.example.com', repository: 'team/web', tag: '1.4.0', digest: ONE, actor: 'ci-bot' });
  });

  it('gives the same delivery id for the same body (a retry)', () => {
    const body = captured('distribution-v1-skopeo-manifest.json').body;
    expect(events(parse('distribution', body))[0]?.deliveryId).toBe(events(parse('distribution', body))[0]?.deliveryId);
  });

  it('refuses hostile tags and digests instead of passing them on', () => {
    const base = captured('distribution-v1-skopeo-manifest.json').body as { events: [{ target: Record<string, unknown> }] };
    const withTarget = (patch: Record<string, unknown>) => ({ events: [{ ...base.events[0], target: { ...base.events[0].target, ...patch } }] });
    expect(ignoredReason(parse('distribution', withTarget({ tag: '1.2.3\nBaton-Actor: mallory' })))).toBe('tag is not a valid OCI tag');
    expect(ignoredReason(parse('distribution', withTarget({ tag: '../../etc' })))).toBe('tag is not a valid OCI tag');
    expect(ignoredReason(parse('distribution', withTarget({ digest: 'sha256:not-hex' })))).toBe('digest is not a valid sha256/sha512 digest');
    expect(ignoredReason(parse('distribution', withTarget({ repository: 'Team/../web' })))).toBe('repository name is not valid');
  });

  it('answers malformed bodies with MalformedPayload', () => {
    expect(() => parse('distribution', { nope: true })).toThrow(MalformedPayload);
    expect(() => parse('distribution', { events: [{ action: 'push' }] })).toThrow(MalformedPayload);
  });
});

describe('gitlab (self-managed GitLab registry notifications)', () => {
  it('reads the distribution envelope under its own source id', () => {
    const [e] = events(parse('gitlab', fixture('gitlab-registry-push.json')));
    expect(e).toMatchObject({ source: 'registry/gitlab', registry: 'registry.gitlab.example.com', repository: 'acme/web', tag: '1.4.0', digest: ONE, actor: 'project_42_bot' });
  });
});

describe('dockerhub', () => {
  const body = fixture('dockerhub-push.json');

  it('turns the documented payload into a docker.io push without digest, keyed by the body hash', () => {
    const [e] = events(parse('dockerhub', body));
    expect(e).toMatchObject({ source: 'registry/dockerhub', registry: 'docker.io', repository: 'acme/web', tag: '1.4.0', actor: 'acmebot', pushedAt: '2025-11-20T09:15:02.000Z' });
    expect(e?.digest).toBeUndefined();
    expect(e?.deliveryId).toMatch(/^dockerhub:[0-9a-f]{64}$/);
  });

  it('folds a multi-arch burst (several calls, different pushed_at) into one push by content key', () => {
    const calls = [0, 1, 2].map((i) => ({ ...(body as object), push_data: { pushed_at: 1763630102 + i, pusher: 'acmebot', tag: '1.4.0' } }));
    const { pushed } = burst('dockerhub', calls);
    expect(new Set(pushed.map((e) => e.deliveryId)).size).toBe(3);
    const filter = new BurstFilter(60_000);
    expect(pushed.map((e, i) => filter.admit(e, 1000 + i))).toEqual([true, false, false]);
  });

  it('names official images library/<name>', () => {
    const [e] = events(parse('dockerhub', { push_data: { tag: '1.27' }, repository: { repo_name: 'nginx' } }));
    expect(e).toMatchObject({ registry: 'docker.io', repository: 'library/nginx' });
  });

  it('ignores a push without a tag and refuses a body that is not a Docker Hub hook', () => {
    expect(ignoredReason(parse('dockerhub', { push_data: {}, repository: { repo_name: 'acme/web' } }))).toBe('push without a tag');
    expect(() => parse('dockerhub', { repository: 'acme/web' })).toThrow(MalformedPayload);
  });
});

describe('harbor', () => {
  it('reads the Default format', () => {
    const [e, ...rest] = events(parse('harbor', fixture('harbor-default-push.json')));
    expect(rest).toHaveLength(0);
    expect(e).toMatchObject({ source: 'registry/harbor', registry: 'harbor.example.com', repository: 'team/web', tag: '1.4.0', digest: ONE, actor: 'robot$ci', pushedAt: '2025-11-20T09:15:02.000Z' });
    expect(e?.deliveryId).toMatch(/^harbor:[0-9a-f]{64}$/);
  });

  it('reads the CloudEvents format with the event id as delivery id', () => {
    const [e] = events(parse('harbor', fixture('harbor-cloudevents-push.json')));
    expect(e).toMatchObject({ deliveryId: '66e18103-09c1-41f6-982f-37df223f3eeb', registry: 'harbor.example.com', repository: 'team/web', tag: '1.4.0', pushedAt: '2026-11-20T09:15:02.000Z' });
  });

  it('ignores the child manifests of a multi-arch push (digest as tag) and keeps the index', () => {
    const { pushed, reasons } = burst('harbor', fixture('harbor-default-multiarch-burst.json') as unknown[]);
    expect(pushed.map((e) => [e.tag, e.digest])).toEqual([['2.0.0', IDX]]);
    expect(reasons).toEqual(['child manifest pushed by digest', 'child manifest pushed by digest']);
  });

  it('gives each tag of a multi-tag push its own delivery id', () => {
    const body = fixture('harbor-cloudevents-push.json') as { data: { resources: object[] } };
    const two = { ...body, data: { ...body.data, resources: [...body.data.resources, { digest: ONE, tag: 'latest', resource_url: 'harbor.example.com/team/web:latest' }] } };
    expect(events(parse('harbor', two)).map((e) => e.deliveryId)).toEqual(['66e18103-09c1-41f6-982f-37df223f3eeb:1.4.0', '66e18103-09c1-41f6-982f-37df223f3eeb:latest']);
  });

  it('ignores other event types in both formats', () => {
    expect(ignoredReason(parse('harbor', { ...(fixture('harbor-default-push.json') as object), type: 'PULL_ARTIFACT' }))).toBe('PULL_ARTIFACT event');
    expect(ignoredReason(parse('harbor', { ...(fixture('harbor-cloudevents-push.json') as object), type: 'harbor.artifact.deleted' }))).toBe('harbor.artifact.deleted event');
  });
});

describe('ghcr (GitHub package / registry_package events)', () => {
  const burstBodies = fixture('ghcr-registry-package-multiarch-burst.json') as unknown[];

  it('keeps only the tagged index of a multi-arch push', () => {
    const pushed = burstBodies.flatMap((b, i) => {
      const p = parseGitHubPackageEvent(b, `delivery-${i}`);
      return p.kind === 'events' ? events(p) : [];
    });
    expect(pushed).toEqual([
      {
        type: 'image-pushed',
        source: 'registry/ghcr',
        deliveryId: 'delivery-2',
        registry: 'ghcr.io',
        repository: 'acme/web',
        tag: '2.0.0',
        digest: IDX,
        pushedAt: '2026-11-20T09:15:03.000Z',
        actor: 'acme-ci[bot]',
      },
    ]);
  });

  it('ignores the untagged container version and the npm package from @octokit/webhooks-examples', () => {
    const pkg = webhookExamples.find((e) => e.name === 'package');
    const examples = (pkg?.examples ?? []) as unknown[];
    expect(examples.length).toBeGreaterThan(1);
    const reasons = examples.map((x, i) => ignoredReason(parseGitHubPackageEvent(x, `d${i}`)));
    expect(reasons).toContain('untagged version (a platform manifest of a multi-arch push)');
    expect(reasons).toContain('npm package, not a container image');
  });

  it('uses X-GitHub-Delivery as delivery id on the registry route and ignores other events', () => {
    const body = burstBodies[2];
    const [e] = events(parse('ghcr', body, { 'x-github-event': 'registry_package', 'x-github-delivery': '72d3162e-cc78-11e3-81ab-4c9367dc0958' }));
    expect(e?.deliveryId).toBe('72d3162e-cc78-11e3-81ab-4c9367dc0958');
    expect(ignoredReason(parse('ghcr', body, { 'x-github-event': 'ping' }))).toBe('ping');
    expect(ignoredReason(parse('ghcr', body, { 'x-github-event': 'push' }))).toBe('push event');
  });
});

describe('quay', () => {
  it('makes one event per updated tag, each with its own stable delivery id', () => {
    const body = fixture('quay-push.json');
    const es = events(parse('quay', body));
    expect(es.map((e) => [e.registry, e.repository, e.tag])).toEqual([
      ['quay.io', 'team/web', '1.4.0'],
      ['quay.io', 'team/web', 'latest'],
    ]);
    expect(new Set(es.map((e) => e.deliveryId)).size).toBe(2);
    expect(events(parse('quay', body)).map((e) => e.deliveryId)).toEqual(es.map((e) => e.deliveryId));
  });

  it('takes the host of an on-premises Quay from docker_url, and reads the legacy updated_tags map', () => {
    const [e] = events(parse('quay', { repository: 'team/web', docker_url: 'quay.internal:8443/team/web', updated_tags: { '1.4.0': 'b750fe79269d' } }));
    expect(e).toMatchObject({ registry: 'quay.internal:8443', repository: 'team/web', tag: '1.4.0' });
  });
});

describe('acr', () => {
  it('reads a push event', () => {
    const [e] = events(parse('acr', fixture('acr-push.json')));
    expect(e).toMatchObject({ source: 'registry/acr', deliveryId: 'cb8c3971-9adc-488b-bdd8-43cbb4974ff5', registry: 'acmeregistry.azurecr.io', repository: 'team/web', tag: '1.4.0', digest: ONE });
  });

  it('ignores delete events', () => {
    expect(ignoredReason(parse('acr', fixture('acr-delete.json')))).toBe('delete event');
  });

  it('keeps only the tagged index when each platform manifest is reported too', () => {
    const push = fixture('acr-push.json') as { id: string; target: Record<string, unknown> };
    const platform = (id: string) => ({ ...push, id, target: { ...push.target, tag: undefined } });
    const index = { ...push, id: 'idx', target: { ...push.target, mediaType: 'application/vnd.oci.image.index.v1+json', digest: IDX, tag: '2.0.0' } };
    const { pushed, reasons } = burst('acr', [platform('p1'), platform('p2'), index]);
    expect(pushed.map((e) => [e.deliveryId, e.tag, e.digest])).toEqual([['idx', '2.0.0', IDX]]);
    expect(reasons).toEqual(['manifest pushed by digest only', 'manifest pushed by digest only']);
  });
});

describe('gar (Pub/Sub push of Artifact Registry notifications)', () => {
  it('decodes the base64 message and splits the full references', () => {
    const [e] = events(parse('gar', fixture('gar-pubsub-push.json')));
    expect(e).toEqual({
      type: 'image-pushed',
      source: 'registry/gar',
      deliveryId: '13697403261580123',
      registry: 'europe-west1-docker.pkg.dev',
      repository: 'acme-prod/apps/web',
      tag: '1.4.0',
      digest: ONE,
      pushedAt: '2026-11-20T09:15:03.045Z',
    });
  });

  it('keeps only the tagged index of a multi-arch push', () => {
    const { pushed, reasons } = burst('gar', fixture('gar-pubsub-multiarch-burst.json') as unknown[]);
    expect(pushed.map((e) => [e.tag, e.digest])).toEqual([['2.0.0', IDX]]);
    expect(reasons).toEqual(['image pushed by digest only', 'image pushed by digest only']);
  });

  it('ignores deletes, and drops a digest that names another image', () => {
    expect(ignoredReason(parse('gar', fixture('gar-pubsub-delete.json')))).toBe('DELETE action');
    const data = Buffer.from(JSON.stringify({ action: 'INSERT', digest: `europe-west1-docker.pkg.dev/acme-prod/apps/other@${ONE}`, tag: 'europe-west1-docker.pkg.dev/acme-prod/apps/web:1.4.0' })).toString('base64');
    const [e] = events(parse('gar', { message: { data, messageId: '1' } }));
    expect(e?.digest).toBeUndefined();
  });

  it('ignores a tag reference that does not parse', () => {
    const data = Buffer.from(JSON.stringify({ action: 'INSERT', tag: 'europe-west1-docker.pkg.dev/acme-prod/apps/web:1.4.0 ; rm -rf /' })).toString('base64');
    expect(ignoredReason(parse('gar', { message: { data, messageId: '2' } }))).toBe('tag is not an image reference');
  });

  it('refuses data that is not base64 JSON', () => {
    expect(() => parse('gar', { message: { data: '%%%', messageId: '1' } })).toThrow(MalformedPayload);
    expect(() => parse('gar', { message: { data: Buffer.from('not json').toString('base64'), messageId: '1' } })).toThrow(MalformedPayload);
    expect(() => parse('gar', { message: { data: Buffer.from('{"action":"INSERT"}').toString('base64') } })).toThrow(MalformedPayload);
  });
});

describe('ecr (EventBridge "ECR Image Action")', () => {
  it('derives the private registry host from account and region', () => {
    const [e] = events(parse('ecr', fixture('ecr-push.json')));
    expect(e).toMatchObject({ deliveryId: '13cde686-328b-6117-af20-0e5566167482', registry: '123456789012.dkr.ecr.eu-west-1.amazonaws.com', repository: 'team/web', tag: '1.4.0', digest: ONE });
  });

  it('keeps only the tagged index of a multi-arch push', () => {
    const { pushed } = burst('ecr', fixture('ecr-multiarch-burst.json') as unknown[]);
    expect(pushed.map((e) => [e.tag, e.digest])).toEqual([['2.0.0', IDX]]);
  });

  it('ignores failed pushes, deletes and other detail types', () => {
    const body = fixture('ecr-push.json') as { detail: object };
    expect(ignoredReason(parse('ecr', { ...body, detail: { ...body.detail, result: 'FAILURE' } }))).toBe('push did not succeed');
    expect(ignoredReason(parse('ecr', { ...body, detail: { ...body.detail, 'action-type': 'DELETE' } }))).toBe('DELETE action');
    expect(ignoredReason(parse('ecr', { ...body, 'detail-type': 'ECR Image Scan' }))).toBe('ECR Image Scan event');
  });
});

describe('generic', () => {
  it('splits the registry host off the repository', () => {
    const [e] = events(parse('generic', { repository: 'registry.example.com/team/web', tag: '1.4.0', digest: ONE }));
    expect(e).toMatchObject({ registry: 'registry.example.com', repository: 'team/web', tag: '1.4.0', digest: ONE });
    expect(e?.deliveryId).toMatch(/^generic:[0-9a-f]{64}$/);
  });

  it('treats a repository without host as Docker Hub', () => {
    expect(events(parse('generic', { repository: 'nginx', tag: '1.27' }))[0]).toMatchObject({ registry: 'docker.io', repository: 'library/nginx' });
    expect(events(parse('generic', { repository: 'localhost:5000/team/web', tag: '1' }))[0]).toMatchObject({ registry: 'localhost:5000', repository: 'team/web' });
  });

  it('refuses bad digests and incomplete bodies', () => {
    expect(ignoredReason(parse('generic', { repository: 'registry.example.com/team/web', tag: '1', digest: 'md5:abc' }))).toBe('digest is not a valid sha256/sha512 digest');
    expect(() => parse('generic', { repository: 'team/web' })).toThrow(MalformedPayload);
  });
});

describe('content key', () => {
  it('is the same for one push seen through two paths and differs by tag or digest', () => {
    const a = { registry: 'docker.io', repository: 'library/nginx', tag: '1.27', digest: ONE };
    expect(contentKey(a)).toBe(contentKey({ registry: 'index.docker.io', repository: 'nginx', tag: '1.27', digest: ONE }));
    expect(contentKey(a)).not.toBe(contentKey({ ...a, tag: '1.28' }));
    expect(contentKey(a)).not.toBe(contentKey({ ...a, digest: IDX }));
  });

  it('admits a push again after the window', () => {
    const filter = new BurstFilter(1000);
    const e = { registry: 'r.example.com', repository: 'team/web', tag: '1', digest: ONE, source: 'registry/generic' as const, deliveryId: 'a' };
    const other = { ...e, deliveryId: 'b' };
    expect([filter.admit(e, 0), filter.admit(other, 999), filter.admit(other, 2000)]).toEqual([true, false, true]);
  });

  it('lets the same delivery through again, so a redelivery of a failed event reaches the queue', () => {
    const filter = new BurstFilter(60_000);
    const e = { registry: 'r.example.com', repository: 'team/web', tag: '1', digest: ONE, source: 'registry/generic' as const, deliveryId: 'a' };
    expect([filter.admit(e, 0), filter.admit(e, 10), filter.admit({ ...e, deliveryId: 'b' }, 20)]).toEqual([true, true, false]);
  });

  it('forgets a push whose event the queue could not store, so the same push announced again is kept', () => {
    const filter = new BurstFilter(60_000);
    const e = { registry: 'r.example.com', repository: 'team/web', tag: '1', digest: ONE, source: 'registry/generic' as const, deliveryId: 'a' };
    expect(filter.admit(e, 0)).toBe(true);
    filter.forget({ ...e, deliveryId: 'other' }); // not the one admitted: nothing forgotten
    expect(filter.admit({ ...e, deliveryId: 'b' }, 10)).toBe(false);
    filter.forget(e);
    expect(filter.admit({ ...e, deliveryId: 'b' }, 20)).toBe(true);
  });
});

describe('hostile input', () => {
  it('never throws anything but MalformedPayload, and never emits an event with an invalid tag', () => {
    const kinds = Object.keys(registrySources);
    fc.assert(
      fc.property(fc.constantFrom(...kinds), fc.jsonValue(), (kind, body) => {
        try {
          const p = parse(kind, body);
          if (p.kind === 'events') for (const e of events(p)) expect(e.tag).toMatch(/^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/);
        } catch (e) {
          expect(e).toBeInstanceOf(MalformedPayload);
        }
      }),
      { numRuns: 500 },
    );
  });
});
