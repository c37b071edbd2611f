/** What GitHub sends with a delivery: event name, delivery id and the HMAC signature over the raw body. */

import { createHmac, randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { githubWebhookRoute } from '../../src/sources/github/index.js';
import type { EmulatedGitHub } from '../emulators/github/harness.js';
import { emulatedGitHub } from '../emulators/github/harness.js';
import { startTestBaton } from './baton.js';
import type { TestBaton } from './baton.js';

export function githubSignature(raw: string | Buffer, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`;
}

/** Headers of one delivery; `secret: null` sends it unsigned. */
export function githubHeaders(event: string, raw: string, secret: string | null, delivery: string = randomUUID()): Record<string, string> {
  return { 'x-github-event': event, 'x-github-delivery': delivery, ...(secret !== null && { 'x-hub-signature-256': githubSignature(raw, secret) }) };
}

/** The real server over an env repo `acme/env` on the GitHub emulator, taking GitHub webhooks signed with `secret`. */
export async function batonOnGitHub(files: Record<string, string>, secret: string): Promise<{ gh: EmulatedGitHub; baton: TestBaton }> {
  const gh = await emulatedGitHub(files);
  const baton = await startTestBaton({
    envRepo: { forge: gh.forge, repo: gh.repo, label: `github:${gh.repo}`, embedded: false },
    sources: { github: githubWebhookRoute({ WEBHOOK_SECRET: secret, BATON_BOT_LOGIN: 'baton-bot' }) },
  });
  return { gh, baton };
}

/** A webhook payload, as GitHub's published examples give them. */
export type Payload = Record<string, unknown>;

const examples = createRequire(import.meta.url)('@octokit/webhooks-examples/api.github.com/index.json') as { name: string; examples: Payload[] }[];

/** A fresh copy of the first of GitHub's published `name` examples that `pick` accepts. */
export function githubExample(name: string, pick: (p: Payload) => boolean): Payload {
  const found = examples.find((e) => e.name === name)?.examples.find(pick);
  if (!found) throw new Error(`no ${name} example`);
  return structuredClone(found);
}

/** GitHub's example `package` event, as GHCR sends it for a container pushed to ghcr.io/acme/web. */
export function ghcrPackageEvent(tag: string): Payload {
  const p = githubExample('package', (x) => JSON.stringify(x).includes('container_metadata'));
  const pkg = p['package'] as Record<string, unknown> & { package_version: Record<string, unknown> & { container_metadata: { tag: Record<string, string> } } };
  pkg['package_type'] = 'CONTAINER';
  pkg['name'] = 'web';
  pkg['owner'] = { login: 'acme' };
  pkg.package_version['package_url'] = `ghcr.io/acme/web:${tag}`;
  pkg.package_version.container_metadata.tag = { name: tag, digest: `sha256:${'cd'.repeat(32)}` };
  return p;
}
