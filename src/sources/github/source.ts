/**
 * `POST /webhooks/github`: GitHub App and repository webhooks. The signature is checked over the
 * raw bytes with every configured secret; deliveries Baton caused itself are ignored (loop safety).
 */

import { createHash } from 'node:crypto';
import type { Parsed } from '../../core/event.js';
import { precheckHmacSha256, verifyHmacSha256 } from '../auth.js';
import { parseGitHubPackageEvent } from '../registry/ghcr.js';
import type { Delivery, Source } from '../types.js';
import { causedBy, normalizeCheckSuite, normalizeIssueComment, normalizePullRequest, normalizePush, normalizeWorkflowRun } from './normalize.js';


/** GitHub caps webhook payloads at 25 MB; a smaller limit would refuse real deliveries with 413. */
export const GITHUB_MAX_PAYLOAD_BYTES = 25 * 1024 * 1024;

export interface GitHubSourceOptions {
  /** Logins whose deliveries are Baton's own: the App's `<slug>[bot]`, a machine user. Case-insensitive. */
  selfLogins: readonly string[];
  /** `package` / `registry_package` → ImagePushed; defaults to the GHCR parser. */
  parsePackage?: (body: unknown, deliveryId: string) => Parsed;
}

const DELIVERY_ID = /^[A-Za-z0-9._:-]{1,200}$/;

/** The delivery id GitHub keeps across redeliveries, or a hash of the body when a sender leaves it out. */
export function deliveryIdOf(delivery: Delivery): string {
  const id = delivery.headers['x-github-delivery'];
  if (id && DELIVERY_ID.test(id)) return id;
  return `github:sha256:${createHash('sha256').update(delivery.rawBody).digest('hex').slice(0, 32)}`;
}

export function githubSource(options: GitHubSourceOptions): Source {
  const self = new Set(options.selfLogins.filter(Boolean).map((l) => l.toLowerCase()));
  // One implementation with the GHCR registry source, which receives the same events on its own route.
  const parsePackage = options.parsePackage ?? parseGitHubPackageEvent;
  return {
    id: 'github',
    verify: (delivery, secrets) => verifyHmacSha256(delivery.rawBody, delivery.headers['x-hub-signature-256'], secrets, 'sha256=', delivery.bodyHmacs),
    precheck: (head, secrets) => precheckHmacSha256(head, 'x-hub-signature-256', secrets),
    hmac: { header: 'x-hub-signature-256' },
    // GitHub payloads nest about ten levels deep (commits → author, pull_request → head → repo → owner).
    maxJsonDepth: 32,
    parse(body, delivery) {
      const event = delivery.headers['x-github-event'] ?? '';
      const deliveryId = deliveryIdOf(delivery);
      if (event === 'ping') return { kind: 'ignored', reason: 'ping' };
      const mine = causedBy(body).find((login) => self.has(login.toLowerCase()));
      if (mine) return { kind: 'ignored', reason: `caused by Baton itself (${mine})` };
      switch (event) {
        case 'push':
          return normalizePush(body, deliveryId);
        case 'pull_request':
          return normalizePullRequest(body, deliveryId);
        case 'issue_comment':
          return normalizeIssueComment(body, deliveryId);
        case 'check_suite':
          return normalizeCheckSuite(body, deliveryId);
        case 'workflow_run':
          return normalizeWorkflowRun(body, deliveryId);
        case 'package':
        case 'registry_package':
          return parsePackage(body, deliveryId);
        case '':
          return { kind: 'ignored', reason: 'no X-GitHub-Event header' };
        default:
          return { kind: 'ignored', reason: `${event.slice(0, 60)} events are of no interest` };
      }
    },
  };
}

/** Settings the GitHub source reads (names as in README "Settings", plus loop-safety identity). */
export interface GitHubSourceSettings {
  WEBHOOK_SECRET?: string | undefined;
  /** The previous secret while rotating: both are accepted until this is unset. */
  WEBHOOK_SECRET_PREVIOUS?: string | undefined;
  /** Baton's login(s), comma-separated: a machine user, or the App's `<slug>[bot]`. */
  BATON_BOT_LOGIN?: string | undefined;
  /** The App's slug; `<slug>[bot]` is added to the logins Baton ignores. */
  GITHUB_APP_SLUG?: string | undefined;
}

export function githubSelfLogins(settings: GitHubSourceSettings): string[] {
  const logins = (settings.BATON_BOT_LOGIN ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  if (settings.GITHUB_APP_SLUG) logins.push(`${settings.GITHUB_APP_SLUG}[bot]`);
  return logins;
}

export function githubWebhookSecrets(settings: GitHubSourceSettings): string[] {
  return [settings.WEBHOOK_SECRET, settings.WEBHOOK_SECRET_PREVIOUS].filter((s): s is string => typeof s === 'string' && s !== '');
}

/**
 * The entry for the HTTP server's `sources` map: `sources: { github: githubWebhookRoute(env, [await forge.selfLogin()]) }`.
 * `discoveredLogins`: the login the GitHub forge found for itself (App `<slug>[bot]`, token user).
 * The shared handler then gives GitHub the same replies as every source (202/200/400/401/413/415).
 */
export function githubWebhookRoute(settings: GitHubSourceSettings, discoveredLogins: readonly (string | undefined)[] = []): { source: Source; secrets: () => string[]; maxBytes: number } {
  return {
    source: githubSource({ selfLogins: [...githubSelfLogins(settings), ...discoveredLogins.filter((l): l is string => typeof l === 'string')] }),
    secrets: () => githubWebhookSecrets(settings),
    maxBytes: GITHUB_MAX_PAYLOAD_BYTES,
  };
}
