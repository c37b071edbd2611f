/** route(event, table) → Intent[]: which environments an event should change. Pure. */

import type { Event, ImagePushed } from './event.js';
import { isValidDigest, isValidTag, normalizeRepository } from './image-ref.js';
import type { Destination, SetImage, TargetSpec } from './intent.js';
import { accepts } from './policy.js';
import type { TagPolicy } from './policy.js';

/** One environment of one image, as the config index resolves it. */
export interface EnvRoute {
  env: string;
  destination: Destination;
  targets: TargetSpec[];
  paused: boolean;
}

export interface ImageRoute {
  image: string;
  /** Normalized full repository. */
  repository: string;
  policy: TagPolicy;
  digestMode: 'pin' | 'ignore';
  envs: EnvRoute[];
}

/** What routing needs to know of the configuration; `src/config` builds it from `.baton.yml`. */
export interface RoutingTable {
  imagesByRepository(repository: string): ImageRoute[];
}

/** Why an event led to no intent, for logs and the "ignored" reply. */
export interface RouteResult {
  intents: SetImage[];
  notes: string[];
}

function routeImagePushed(e: ImagePushed, table: RoutingTable): RouteResult {
  const notes: string[] = [];
  if (!isValidTag(e.tag)) return { intents: [], notes: [`tag ${JSON.stringify(e.tag.slice(0, 140))} is not a valid OCI tag`] };
  if (e.digest !== undefined && !isValidDigest(e.digest)) return { intents: [], notes: ['the digest is not a valid sha256/sha512 digest'] };
  const repository = normalizeRepository(`${e.registry}/${e.repository}`);
  const images = table.imagesByRepository(repository);
  if (images.length === 0) notes.push(`no image in .baton.yml uses ${repository}`);
  const intents: SetImage[] = [];
  for (const img of images) {
    const verdict = accepts(img.policy, e.tag);
    if (!verdict.ok) {
      notes.push(`${img.image}: ${verdict.reason}`);
      continue;
    }
    for (const env of img.envs) {
      if (env.paused) {
        notes.push(`${img.image}: ${env.env} is paused`);
        continue;
      }
      intents.push({
        type: 'set-image',
        destination: env.destination,
        env: env.env,
        image: img.image,
        repository: img.repository,
        tag: e.tag,
        ...(e.digest !== undefined && { digest: e.digest }),
        digestMode: img.digestMode,
        mode: 'upgrade',
        policy: img.policy,
        targets: env.targets,
        cause: { source: e.source, deliveryId: e.deliveryId, ...(e.actor && { actor: e.actor }) },
      });
    }
  }
  return { intents, notes };
}

export function route(event: Event, table: RoutingTable): RouteResult {
  switch (event.type) {
    case 'image-pushed':
      return routeImagePushed(event, table);
    default:
      return { intents: [], notes: [`${event.type} events do not change environments yet`] };
  }
}
