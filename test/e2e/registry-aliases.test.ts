/**
 * A registry that notifies as `127.0.0.1:<port>` while `.baton.yml` names it `localhost:<port>`: without
 * an alias the server logs the near miss and writes nothing; with `registries.aliases` it bumps. Over
 * HTTP with the registry's payload, and with a real docker-registry pushed to by skopeo when installed.
 */

import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { REGISTRY_AUTH, TEST_TOKEN, distributionPush, eventually, kustomization, startTestBaton } from '../helpers/baton.js';
import { buildImage, freePort, pushImage, registryUnavailable, removeImage, startRegistry } from '../helpers/registry.js';
import type { BuiltImage, RunningRegistry } from '../helpers/registry.js';

const unavailable = registryUnavailable();
if (unavailable) console.warn(unavailable);

const TARGET = 'envs/staging/web.yaml';

function config(host: string, aliases: Record<string, string> = {}): string {
  const block = Object.keys(aliases).length > 0 ? `registries:\n  aliases:\n${Object.entries(aliases).map(([k, v]) => `    "${k}": "${v}"\n`).join('')}` : '';
  return `version: 1
${block}environments:
  staging:
    branch: main
images:
  web:
    repository: ${host}/team/web
    targets:
      staging: [${TARGET}]
`;
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('registry host aliases through the server', () => {
  it('without an alias: nothing is written, and the log names the configured repository', async () => {
    const lines: string[] = [];
    const t = await startTestBaton({
      seed: { '.baton.yml': config('localhost:5000'), [TARGET]: kustomization('localhost:5000/team/web', '1.0.0') },
      logger: pino({ level: 'info' }, { write: (s: string) => lines.push(s) }),
    });
    cleanups.push(() => t.close());
    const head = await t.repo?.head();
    expect((await t.post('/webhooks/registry/distribution', distributionPush('n1', '127.0.0.1:5000', 'team/web', '1.1.0'), REGISTRY_AUTH)).status).toBe(202);
    await t.idle();
    expect(await t.repo?.head()).toBe(head);
    const skipped = lines.map((l) => JSON.parse(l) as { level: number; msg: string; reason?: string }).find((l) => l.reason === 'no-image');
    expect(skipped?.level).toBe(30);
    expect(skipped?.msg).toBe('bump skipped: no image in .baton.yml uses 127.0.0.1:5000/team/web; localhost:5000/team/web is configured (registries.aliases in .baton.yml makes one host stand for another)');
  });

  it('with registries.aliases: the event from 127.0.0.1:5000 bumps localhost:5000/team/web', async () => {
    const t = await startTestBaton({ seed: { '.baton.yml': config('localhost:5000', { '127.0.0.1:5000': 'localhost:5000' }), [TARGET]: kustomization('localhost:5000/team/web', '1.0.0') } });
    cleanups.push(() => t.close());
    expect((await t.post('/webhooks/registry/distribution', distributionPush('a1', '127.0.0.1:5000', 'team/web', '1.1.0'), REGISTRY_AUTH)).status).toBe(202);
    await t.idle();
    expect(await t.repo?.show('main', TARGET)).toBe(kustomization('localhost:5000/team/web', '1.1.0'));
  });
});

describe.skipIf(unavailable !== undefined)('registry host aliases with a real registry (docker-registry, skopeo)', () => {
  let registry: RunningRegistry | undefined;
  let image: BuiltImage | undefined;
  afterEach(async () => {
    await registry?.stop();
    if (image) await removeImage(image);
  });

  it('skopeo pushes to 127.0.0.1:<port>; the registry notifies with that host; the alias to localhost:<port> makes it a commit', { timeout: 60_000 }, async () => {
    const port = await freePort();
    registry = await startRegistry({ notify: [{ url: `http://127.0.0.1:${port}/webhooks/registry/distribution`, token: TEST_TOKEN }] });
    const local = registry.host.replace('127.0.0.1', 'localhost');
    const t = await startTestBaton({
      env: { PORT: String(port) },
      seed: { '.baton.yml': config(local, { [registry.host]: local }), [TARGET]: kustomization(`${local}/team/web`, '1.0.0') },
    });
    cleanups.push(() => t.close());
    image = await buildImage('1.4.0');
    await pushImage(image, registry.host, 'team/web');
    await eventually(async () => (await t.repo?.show('main', TARGET))?.includes('newTag: "1.4.0"') ?? false, 30_000, 'the bump');
    expect(await t.repo?.show('main', TARGET)).toContain(`name: ${local}/team/web`);
  });
});
