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

/** `(registry/repository normalized, tag, digest)`: what makes two push events the same push. */
export function contentKey(event: Pick<ImagePushed, 'registry' | 'repository' | 'tag' | 'digest'>): string {
  return `${normalizeRepository(`${event.registry}/${event.repository}`)}:${event.tag}@${event.digest ?? ''}`;
}

export class BurstFilter {
  /** Content key → the delivery that first announced it, and until when it is remembered. */
  private readonly first = new Map<string, { delivery: string; until: number }>();

  /** @param windowMs how long a push is remembered; a few minutes covers every registry's burst. */
  constructor(
    private readonly windowMs = 5 * 60_000,
    private readonly maxEntries = 50_000,
  ) {}

  /**
   * True for the first event of a push within the window, and for that same delivery again (a
   * redelivery is the queue's to judge: it may be a retry of an event that failed); false for the
   * same push announced under another delivery id.
   */
  admit(event: Pick<ImagePushed, 'registry' | 'repository' | 'tag' | 'digest' | 'source' | 'deliveryId'>, nowMs: number): boolean {
    const key = contentKey(event);
    const delivery = `${event.source}\u0000${event.deliveryId}`;
    const seen = this.first.get(key);
    if (seen && seen.until > nowMs) return seen.delivery === delivery;
    this.first.delete(key);
    this.first.set(key, { delivery, until: nowMs + this.windowMs });
    for (const [k, v] of this.first) {
      if (this.first.size <= this.maxEntries && v.until > nowMs) break;
      this.first.delete(k);
    }
    return true;
  }

  /**
   * The delivery `admit` let through could not be stored (the queue refused: disk or Redis away):
   * forget it, so the same push announced again — by a retry or another path — is not dropped as a
   * burst duplicate of an event that was never kept.
   */
  forget(event: Pick<ImagePushed, 'registry' | 'repository' | 'tag' | 'digest' | 'source' | 'deliveryId'>): void {
    const key = contentKey(event);
    if (this.first.get(key)?.delivery === `${event.source}\u0000${event.deliveryId}`) this.first.delete(key);
  }
}
