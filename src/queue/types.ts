/** The Queue port: accepted events are never lost, each delivery is worked once, one writer per target. */

import type { Event } from '../core/event.js';
import type { Destination, Intent } from '../core/intent.js';

/** One group of intents that must be written together (same destination). */
export interface Routed {
  key: string;
  destination: Destination;
  intents: Intent[];
}

/** What the queue knows of an event besides its payload. */
export interface EventMeta {
  /** When Baton accepted the delivery (ms since the epoch); kept across restarts. */
  acceptedAt: number;
}

export interface QueueHandlers {
  /**
   * Decide what an event should change; called once per accepted event. Throwing means "not now"
   * (config unreadable, forge down): the queue tries again later, as a failed flush.
   */
  route(event: Event, meta: EventMeta): Promise<Routed[]>;
  /**
   * Write one batch for one destination. Never called twice at once for the same key. Resolves only
   * when the change is in the repository (or nothing needed to change); anything else throws.
   */
  flush(destination: Destination, intents: Intent[]): Promise<void>;
}

/**
 * How a failure is treated: `retryable` is tried again with backoff while the event is younger than
 * the retention window; `permanent` (the forge refused for good) parks the event as a dead letter.
 */
export type FailureKind = 'retryable' | 'permanent';

/** An event that could not be carried out, kept with the reason until someone retries it. */
export interface DeadLetter {
  /** `<source>:<delivery id>` (sources never contain a colon), what `baton retry` takes. */
  id: string;
  source: string;
  deliveryId: string;
  acceptedAt: number;
  failedAt: number;
  reason: string;
}

export interface QueueStats {
  /** Events accepted and not yet fully written (routing, waiting, writing or waiting to retry). */
  pending: number;
  /** Batches waiting for their debounce window or being written. */
  batches: number;
  /** Events whose routing or write failed and that wait for their next try. */
  retrying: number;
  /** Events parked as dead letters. */
  dead: number;
  /** Age in ms of the oldest pending event (0 when none). */
  oldestPendingMs: number;
}

export interface Queue {
  /** Accept an event. `duplicate` when its delivery id was already accepted (the work happens once). */
  enqueue(event: Event): Promise<'queued' | 'duplicate'>;
  /** Begin working, replaying anything accepted before a crash. */
  start(handlers: QueueHandlers): Promise<void>;
  /**
   * Stop accepting, flush every batch now (skipping the debounce), wait for the work to finish —
   * at most `deadlineMs`; whatever is not finished by then stays journaled for the next start.
   */
  drain(deadlineMs?: number): Promise<void>;
  stats(): QueueStats;
  /** Events parked after a permanent failure or after the retention window ran out. */
  deadLetters(): DeadLetter[];
  /** Try now every event waiting for its next retry (a valid config arrived, the forge is back). */
  wake?(): void;
  /** Put dead letters back to work (all of them when `ids` is `'all'`); returns the ids retried. */
  retry(ids: string[] | 'all'): Promise<string[]>;
  /** Why the queue cannot take work right now (its store is unreachable), or undefined: `/readyz` reports it. */
  problem?(): string | undefined;
}

/** The identity used to de-duplicate deliveries. */
export function deliveryKey(e: Event): string {
  return `${e.source}\u0000${e.deliveryId}`;
}

/** The key as people type it: `registry/distribution:abc`. */
export function displayKey(key: string): string {
  return key.replace('\u0000', ':');
}
