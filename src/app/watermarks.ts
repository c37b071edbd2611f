/**
 * For tag policies with no order (`sha`, a `regex` without `extract`) the newest event wins, so an
 * old event worked late — a retried batch, a replayed journal — must not roll an environment back.
 * Remembers, per environment and image, when the event behind the version last written was
 * accepted; kept in a small file so a restart remembers too.
 */

import { JsonFile } from './json-file.js';

/** Where watermarks live: a file for one process, Redis when replicas share the work (src/queue/redis.ts). */
export interface WatermarkStore {
  get(env: string, image: string): Promise<number | undefined>;
  /** Raise each mark to `at` (never lower it). */
  advance(entries: { env: string; image: string; at: number }[]): Promise<void>;
}

export class Watermarks implements WatermarkStore {
  private readonly file: JsonFile<Record<string, number>>;

  constructor(path?: string) {
    this.file = new JsonFile(path, () => ({}));
  }

  private key(env: string, image: string): string {
    return `${env}\u0000${image}`;
  }

  async get(env: string, image: string): Promise<number | undefined> {
    const marks = await this.file.load();
    const v = Object.hasOwn(marks, this.key(env, image)) ? marks[this.key(env, image)] : undefined;
    return typeof v === 'number' ? v : undefined;
  }

  async advance(entries: { env: string; image: string; at: number }[]): Promise<void> {
    const marks = await this.file.load();
    let changed = false;
    for (const e of entries) {
      const k = this.key(e.env, e.image);
      const current = Object.hasOwn(marks, k) ? marks[k] : undefined;
      if (typeof current !== 'number' || current < e.at) {
        marks[k] = e.at;
        changed = true;
      }
    }
    if (changed) await this.file.save(marks);
  }
}
