/** What GitHub sends with a delivery: event name, delivery id and the HMAC signature over the raw body. */

import { createHmac, randomUUID } from 'node:crypto';
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
