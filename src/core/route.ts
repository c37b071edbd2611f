/** route(event, table) → Intent[]: which environments an event should change. Pure. */

import type { CiCompleted, Event, ImagePushed } from './event.js';
import { formatRepoRef } from './event.js';
import { isValidDigest, isValidTag, normalizeRepository } from './image-ref.js';
import type { Destination, Intent, SetImage, TargetSpec } from './intent.js';
import { routePullRequest } from './preview/route.js';
import type { PreviewTable } from './preview/route.js';
import { accepts } from './policy.js';
import type { TagPolicy } from './policy.js';
import type { SkipReason } from './changeset.js';

/** One environment of one image, as the config index resolves it. */
export interface EnvRoute {
  env: string;
  destination: Destination;
  targets: TargetSpec[];
  paused: boolean;
  /** Why it is paused, for the log and the reply (default: "<env> is paused"). */
  pausedReason?: string;
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
export interface RoutingTable extends PreviewTable {
  imagesByRepository(repository: string): ImageRoute[];
  /** Images built from an app repo (`images.<name>.source`, e.g. `github:acme/web`), for CI-completed events. */
  imagesBySource?(source: string): ImageRoute[];
  /**
   * Configured repositories with the same path as `repository` on another registry host (an event
   * from `127.0.0.1:5000` while `.baton.yml` says `localhost:5000`): named in the "no image" note.
   */
  nearMisses?(repository: string): string[];
}

/**
 * One bump not made, with its reason as a person reads it and as a fixed code. `image` and `env` are
 * names from `.baton.yml`, empty when the event matched no image.
 */
export interface RouteSkip {
  image: string;
  env: string;
  tag: string;
  reason: string;
  code: SkipReason;
}

/** Why an event led to no intent, for logs and the "ignored" reply. */
export interface RouteResult {
  intents: Intent[];
  notes: string[];
  /** Environments skipped because they are paused: for the metrics, and to tell the source MR. */
  paused?: { env: string; image: string; reason: string; intent: SetImage }[];
  /** Every bump not made, per image and environment, with its reason (logs, `/metrics`, `/status`). */
  skips?: RouteSkip[];
}

function routeImagePushed(e: ImagePushed, table: RoutingTable): RouteResult {
  const notes: string[] = [];
  const skips: RouteSkip[] = [];
  let paused: RouteResult['paused'];
  if (!isValidTag(e.tag)) {
    const reason = `tag ${JSON.stringify(e.tag.slice(0, 140))} is not a valid OCI tag`;
    return { intents: [], notes: [reason], skips: [{ image: '', env: '', tag: '', reason, code: 'invalid-tag' }] };
  }
  if (e.digest !== undefined && !isValidDigest(e.digest)) {
    const reason = 'the digest is not a valid sha256/sha512 digest';
    return { intents: [], notes: [reason], skips: [{ image: '', env: '', tag: e.tag, reason, code: 'invalid-tag' }] };
  }
  const repository = normalizeRepository(`${e.registry}/${e.repository}`);
  const images = table.imagesByRepository(repository);
  if (images.length === 0) {
    const near = table.nearMisses?.(repository) ?? [];
    const reason = `no image in .baton.yml uses ${repository}${near.length > 0 ? `; ${near.join(', ')} ${near.length === 1 ? 'is' : 'are'} configured (registries.aliases in .baton.yml makes one host stand for another)` : ''}`;
    notes.push(reason);
    skips.push({ image: '', env: '', tag: e.tag, reason, code: 'no-image' });
  }
  const intents: SetImage[] = [];
  for (const img of images) {
    const verdict = accepts(img.policy, e.tag);
    if (!verdict.ok) {
      notes.push(`${img.image}: ${verdict.reason}`);
      for (const env of img.envs) skips.push({ image: img.image, env: env.env, tag: e.tag, reason: verdict.reason, code: verdict.code });
      continue;
    }
    for (const env of img.envs) {
      const intent: SetImage = {
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
      };
      if (env.paused) {
        const reason = env.pausedReason ?? `${env.env} is paused`;
        notes.push(`${img.image}: ${reason}`);
        (paused ??= []).push({ env: env.env, image: img.image, reason, intent });
        skips.push({ image: img.image, env: env.env, tag: e.tag, reason, code: 'paused' });
        continue;
      }
      intents.push(intent);
    }
  }
  return { intents, notes, skips, ...(paused && { paused }) };
}

/** git's customary abbreviation, used where the forge's CI has no short-sha convention (GitHub Actions). */
export const DEFAULT_SHORT_SHA_LENGTH = 7;

/**
 * The tags a commit's image may carry, in the order Baton prefers them: the forge's short sha first
 * (GitLab 8, otherwise 7), then every other prefix from 7 to 40 characters, shortest first.
 */
export function shaTagCandidates(sha: string, convention: number = DEFAULT_SHORT_SHA_LENGTH): string[] {
  const first = Math.min(40, Math.max(7, Math.trunc(convention)));
  const lengths = [first];
  for (let n = 7; n <= 40; n++) if (n !== first) lengths.push(n);
  return lengths.map((n) => sha.slice(0, n));
}

/**
 * CI succeeded on the default branch of an app repo: images with `policy: sha` built from it move
 * to that commit's tag — the forge's short sha, or whichever prefix length the image's pattern accepts.
 */
function routeCiCompleted(e: CiCompleted, table: RoutingTable): RouteResult {
  if (e.conclusion !== 'success') return { intents: [], notes: [`CI on ${formatRepoRef(e.repo)} ended ${e.conclusion}`] };
  if (e.branch !== e.defaultBranch) return { intents: [], notes: [`CI ran on ${e.branch.slice(0, 100)}, not the default branch ${e.defaultBranch}`] };
  if (!/^[0-9a-f]{40}$/.test(e.sha)) return { intents: [], notes: ['the commit id is not a full sha'] };
  const images = (table.imagesBySource?.(formatRepoRef(e.repo)) ?? []).filter((img) => img.policy.policy === 'sha');
  if (images.length === 0) return { intents: [], notes: [`no image with policy: sha has source ${formatRepoRef(e.repo)}`] };
  const result: RouteResult = { intents: [], notes: [] };
  for (const img of images) {
    const tag = shaTagCandidates(e.sha, e.shortShaLength).find((t) => accepts(img.policy, t).ok);
    if (tag === undefined) {
      const reason = 'its pattern needs more than the commit sha; send registry events instead';
      result.notes.push(`${img.image}: ${reason}`);
      for (const env of img.envs) (result.skips ??= []).push({ image: img.image, env: env.env, tag: e.sha.slice(0, 12), reason, code: 'not-matching' });
      continue;
    }
    const cause = { source: e.source, deliveryId: e.deliveryId, ...(e.actor && { actor: e.actor }), sourceRef: `${formatRepoRef(e.repo)}@${e.sha.slice(0, e.shortShaLength ?? DEFAULT_SHORT_SHA_LENGTH)}`, sourceSha: e.sha };
    for (const env of img.envs) {
      const intent: SetImage = {
        type: 'set-image',
        destination: env.destination,
        env: env.env,
        image: img.image,
        repository: img.repository,
        tag,
        digestMode: img.digestMode,
        mode: 'upgrade',
        policy: img.policy,
        targets: env.targets,
        cause,
      };
      if (env.paused) {
        const reason = env.pausedReason ?? `${env.env} is paused`;
        result.notes.push(`${img.image}: ${reason}`);
        (result.paused ??= []).push({ env: env.env, image: img.image, reason, intent });
        (result.skips ??= []).push({ image: img.image, env: env.env, tag, reason, code: 'paused' });
        continue;
      }
      result.intents.push(intent);
    }
  }
  return result;
}

export function route(event: Event, table: RoutingTable): RouteResult {
  switch (event.type) {
    case 'image-pushed':
      return routeImagePushed(event, table);
    case 'ci-completed':
      return routeCiCompleted(event, table);
    case 'cd-status':
      // Operators' reports change no file: the reporter settles deployments with them.
      return { intents: [], notes: [] };
    case 'pull-request':
      return routePullRequest(event, table, formatRepoRef(event.repo));
    default:
      return { intents: [], notes: [`${event.type} events do not change environments yet`] };
  }
}
