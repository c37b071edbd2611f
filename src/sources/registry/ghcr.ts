/**
 * GitHub Container Registry pushes, as GitHub reports them: `package` and `registry_package` webhook events
 * (action `published`, or `updated` when a tag moves). A multi-arch push publishes each platform manifest as
 * an untagged version and the index with the tag; untagged versions are ignored. Non-container packages
 * (npm, maven, …) are ignored too. `parseGitHubPackageEvent` is shared with the GitHub source, which receives
 * the same events on `/webhooks/github`.
 */

import { z } from 'zod';
import type { Parsed } from '../../core/event.js';
import { precheckHmacSha256, verifyHmacSha256 } from '../auth.js';
import { MalformedPayload } from '../types.js';
import { bodyHash, buildImagePushed, isoOrUndefined, ParseResult, splitRegistry } from './common.js';
import type { Source } from '../types.js';

const Str = z.string().max(2048);

const PackageSchema = z.object({
  name: Str,
  package_type: Str.optional(),
  ecosystem: Str.optional(),
  owner: z.object({ login: Str.optional() }).nullish(),
  package_version: z
    .object({
      package_url: Str.optional(),
      created_at: Str.nullish(),
      updated_at: Str.nullish(),
      container_metadata: z
        .object({ tag: z.object({ name: Str.nullish(), digest: Str.nullish() }).nullish() })
        .nullish(),
    })
    .nullish(),
});

const EventSchema = z.object({
  action: Str,
  package: PackageSchema.optional(),
  registry_package: PackageSchema.optional(),
  sender: z.object({ login: Str.optional() }).optional(),
});

const CONTAINER_TYPES = new Set(['container', 'docker']);

/** GitHub timestamps of `0001-01-01T00:00:00Z` mean "unknown". */
function realTime(value: string | null | undefined): string | undefined {
  const iso = isoOrUndefined(value ?? undefined);
  return iso && !iso.startsWith('0001-') ? iso : undefined;
}

/**
 * Normalize a GitHub `package` / `registry_package` event. `deliveryId` is the `X-GitHub-Delivery` header,
 * which GitHub keeps across redeliveries.
 */
export function parseGitHubPackageEvent(body: unknown, deliveryId: string): Parsed {
  const parsed = EventSchema.safeParse(body);
  if (!parsed.success) throw new MalformedPayload('expected a GitHub package or registry_package event');
  const e = parsed.data;
  const pkg = e.registry_package ?? e.package;
  if (!pkg) throw new MalformedPayload('the event carries no package');
  const result = new ParseResult();
  const type = (pkg.package_type ?? pkg.ecosystem ?? '').toLowerCase();
  const version = pkg.package_version;
  const tag = version?.container_metadata?.tag?.name ?? '';
  if (e.action !== 'published' && e.action !== 'updated') result.ignore(`${e.action.slice(0, 40)} action`);
  // container_metadata is what a container version carries; package_type alone is unreliable in GitHub's own examples.
  else if (!version?.container_metadata && !CONTAINER_TYPES.has(type)) result.ignore(`${type.slice(0, 40) || 'unknown'} package, not a container image`);
  else if (!version) result.ignore('event without a package version');
  else if (tag === '') result.ignore('untagged version (a platform manifest of a multi-arch push)');
  else {
    // package_url is `ghcr.io/owner/name:tag`; it is the only field that names the registry host. GHCR paths are lowercase.
    const url = version.package_url?.replace(/:[^/:]*$/, '').toLowerCase();
    const fromUrl = url ? splitRegistry(url) : undefined;
    const owner = pkg.owner?.login?.toLowerCase();
    const registry = fromUrl?.registry ?? (type === 'docker' ? 'docker.pkg.github.com' : 'ghcr.io');
    const repository = fromUrl?.registry ? fromUrl.repository : owner ? `${owner}/${pkg.name.toLowerCase()}` : undefined;
    if (!repository) result.ignore('event names no repository');
    else
      result.add(
        buildImagePushed('registry/ghcr', {
          deliveryId,
          registry,
          repository,
          tag,
          digest: version.container_metadata?.tag?.digest ?? undefined,
          pushedAt: realTime(version.updated_at) ?? realTime(version.created_at),
          actor: e.sender?.login,
        }),
      );
  }
  return result.done();
}

/** A repository or organization webhook (events: Packages / Registry packages) pointed at `/webhooks/registry/ghcr`. */
export const ghcr: Source = {
  id: 'registry/ghcr',
  verify: (delivery, secrets) => verifyHmacSha256(delivery.rawBody, delivery.headers['x-hub-signature-256'], secrets, 'sha256=', delivery.bodyHmacs),
  precheck: (head, secrets) => precheckHmacSha256(head, 'x-hub-signature-256', secrets),
  hmac: { header: 'x-hub-signature-256' },
  parse: (body, delivery) => {
    const event = delivery.headers['x-github-event'];
    if (event !== undefined && event !== 'package' && event !== 'registry_package') {
      return event === 'ping' ? { kind: 'ignored', reason: 'ping' } : { kind: 'ignored', reason: `${event.slice(0, 40)} event` };
    }
    const id = delivery.headers['x-github-delivery'];
    return parseGitHubPackageEvent(body, id && id.length <= 200 ? id : `ghcr:${bodyHash(delivery.rawBody)}`);
  },
};
