/**
 * The embedded queue's journal: one JSON record per line, appended synchronously before a webhook
 * is answered. Read as a stream (it may be larger than a string can hold); an unreadable journal is
 * moved aside, never truncated.
 */

import { createReadStream } from 'node:fs';
import { rename, stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { Event } from '../core/event.js';

export type JournalRecord =
  | { op: 'add'; key: string; event: Event; at?: number }
  | { op: 'done'; key: string; at?: number }
  | { op: 'dead'; key: string; at: number; reason: string }
  | { op: 'retry'; key: string }
  /** Written by compaction: a finished delivery still remembered for de-duplication. */
  | { op: 'seen'; key: string; until: number };

export interface PendingEntry {
  key: string;
  event: Event;
  acceptedAt: number;
}

export interface DeadEntry extends PendingEntry {
  failedAt: number;
  reason: string;
}

export interface JournalState {
  pending: PendingEntry[];
  dead: DeadEntry[];
  /** Finished delivery keys and until when they are remembered. */
  seen: Map<string, number>;
  /** Lines that were not valid records (a write torn by a crash, or damage). */
  torn: number;
  /** `add` records without an event: nothing to replay. */
  empty: number;
  /** Set when the file could not be read: where it was moved aside, and why. */
  movedAside?: { path: string; reason: string };
}

function isRecord(v: unknown): v is JournalRecord {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as { op?: unknown; key?: unknown };
  return typeof r.key === 'string' && typeof r.op === 'string';
}

/**
 * Fold the journal into what is still to do. `now` and `dedupeTtlMs` decide how long finished
 * deliveries stay remembered; an `add` without an `at` (older journals) counts as accepted now.
 */
export async function readJournal(path: string, options: { now: number; dedupeTtlMs: number; readOnly?: boolean }): Promise<JournalState> {
  const state: JournalState = { pending: [], dead: [], seen: new Map(), torn: 0, empty: 0 };
  try {
    await stat(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return state;
    throw e;
  }
  const pending = new Map<string, PendingEntry>();
  const dead = new Map<string, DeadEntry>();
  try {
    const lines = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
    for await (const line of lines) {
      if (!line.trim()) continue;
      let r: unknown;
      try {
        r = JSON.parse(line);
      } catch {
        state.torn++;
        continue;
      }
      if (!isRecord(r)) {
        state.torn++;
        continue;
      }
      switch (r.op) {
        case 'add': {
          if (typeof r.event !== 'object' || r.event === null) {
            state.empty++;
            continue;
          }
          dead.delete(r.key);
          state.seen.delete(r.key);
          pending.set(r.key, { key: r.key, event: r.event, acceptedAt: typeof r.at === 'number' ? r.at : options.now });
          break;
        }
        case 'done': {
          const p = pending.get(r.key);
          pending.delete(r.key);
          dead.delete(r.key);
          // Finished deliveries are remembered for the de-duplication window from when they finished.
          const finished = typeof r.at === 'number' ? r.at : (p?.acceptedAt ?? options.now);
          state.seen.set(r.key, finished + options.dedupeTtlMs);
          break;
        }
        case 'dead': {
          const p = pending.get(r.key);
          if (!p) break;
          pending.delete(r.key);
          dead.set(r.key, { ...p, failedAt: r.at, reason: String(r.reason) });
          break;
        }
        case 'retry': {
          const d = dead.get(r.key);
          if (!d) break;
          dead.delete(r.key);
          pending.set(r.key, { key: d.key, event: d.event, acceptedAt: d.acceptedAt });
          break;
        }
        case 'seen':
          if (typeof r.until === 'number') state.seen.set(r.key, r.until);
          break;
      }
    }
  } catch (e) {
    // Not readable as text records (permissions, a directory, an I/O error): keep it for a human.
    if (options.readOnly) throw e;
    const aside = `${path}.unreadable-${options.now}`;
    await rename(path, aside);
    return { pending: [], dead: [], seen: new Map(), torn: state.torn, empty: state.empty, movedAside: { path: aside, reason: (e as Error).message } };
  }
  for (const [key, until] of state.seen) if (until < options.now) state.seen.delete(key);
  state.pending = [...pending.values()];
  state.dead = [...dead.values()];
  return state;
}
