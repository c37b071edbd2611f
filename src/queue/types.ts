/** The Queue port: accepted events are never lost, each delivery is worked once, one writer per target. */

import type { Event } from '../core/event.js';
import type { Destination, Intent } from '../core/intent.js';

/** One group of intents that must be written together (same destination). */
export interface Routed {
  key: string;
  destination: Destination;
  intents: Intent[];
}

export interface QueueHandlers {
  /** Decide what an event should change; called once per accepted event. */
  route(event: Event): Promise<Routed[]>;
  /** Write one batch for one destination. Never called twice at once for the same key. */
  flush(destination: Destination, intents: Intent[]): Promise<void>;
}

export interface QueueStats {
  /** Events accepted and not yet fully written. */
  pending: number;
  /** Batches waiting for their debounce window or being written. */
  batches: number;
}

export interface Queue {
  /** Accept an event. `duplicate` when its delivery id was already accepted (the work happens once). */
  enqueue(event: Event): Promise<'queued' | 'duplicate'>;
  /** Begin working, replaying anything accepted before a crash. */
  start(handlers: QueueHandlers): Promise<void>;
  /** Stop accepting, flush every batch now (skipping the debounce), wait for the work to finish. */
  drain(): Promise<void>;
  stats(): QueueStats;
}

/** The identity used to de-duplicate deliveries. */
export function deliveryKey(e: Event): string {
  return `${e.source}\u0000${e.deliveryId}`;
}
