/**
 * Content de-duplication for image pushes. The queue drops a repeated delivery id; this drops a repeated
 * *push*: Docker Hub calls several times per multi-arch push, and a push can arrive by two paths (GitHub's
 * `package` event and the registry's own webhook). Events with the same content key inside the window are one.
 *
 * Use: after parsing, before enqueueing, `if (!burst.admit(event, clock.now())) answer 200 "duplicate push"`.
 * With several replicas (REDIS_URL), use `contentKey(event)` as a `SET key NX PX window` key instead.
 */

import type { ImagePushed } from '../../core/event.js';
import { normalizeRepository } from '../../core/image-ref.js';
import { ReplayGuard } from './replay-guard.js';

/** `(registry/repository normalized, tag, digest)`: what makes two push events the same push. */
export function contentKey(event: Pick<ImagePushed, 'registry' | 'repository' | 'tag' | 'digest'>): string {
  return `${normalizeRepository(`${event.registry}/${event.repository}`)}:${event.tag}@${event.digest ?? ''}`;
}

export class BurstFilter {
  private readonly guard: ReplayGuard;

  /** @param windowMs how long a push is remembered; a few minutes covers every registry's burst. */
  constructor(windowMs = 5 * 60_000, maxEntries = 50_000) {
    this.guard = new ReplayGuard(windowMs, maxEntries);
  }

  /** True for the first event of a push within the window; false for its duplicates. */
  admit(event: Pick<ImagePushed, 'registry' | 'repository' | 'tag' | 'digest'>, nowMs: number): boolean {
    return this.guard.admit(contentKey(event), nowMs);
  }
}
