/**
 * For tag policies with no order (`sha`, a `regex` without `extract`) the newest event wins, so an
 * old event worked late — a redelivery, a replayed journal — must not roll an environment back.
 * Remembers, per environment and image, when the event behind the version last written was
 * accepted; kept in a small file so a restart remembers too.
 */

import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

export class Watermarks {
  private marks = new Map<string, number>();
  private loaded: Promise<void> | undefined;
  /** Saves run one after another, so two lanes finishing together cannot interleave their renames. */
  private saving: Promise<void> = Promise.resolve();

  constructor(private readonly path?: string) {}

  private key(env: string, image: string): string {
    return `${env}\u0000${image}`;
  }

  private async load(): Promise<void> {
    this.loaded ??= (async () => {
      if (!this.path) return;
      try {
        const data = JSON.parse(await readFile(this.path, 'utf8')) as Record<string, number>;
        for (const [k, v] of Object.entries(data)) if (typeof v === 'number') this.marks.set(k, v);
      } catch {
        // No file yet (or unreadable): nothing written is remembered, every event is newer.
      }
    })();
    return this.loaded;
  }

  async get(env: string, image: string): Promise<number | undefined> {
    await this.load();
    return this.marks.get(this.key(env, image));
  }

  async advance(entries: { env: string; image: string; at: number }[]): Promise<void> {
    await this.load();
    let changed = false;
    for (const e of entries) {
      const k = this.key(e.env, e.image);
      if ((this.marks.get(k) ?? -Infinity) < e.at) {
        this.marks.set(k, e.at);
        changed = true;
      }
    }
    const path = this.path;
    if (!changed || !path) return;
    this.saving = this.saving.catch(() => undefined).then(async () => {
      await mkdir(dirname(path), { recursive: true });
      await writeFile(`${path}.tmp`, JSON.stringify(Object.fromEntries(this.marks)), { mode: 0o600 });
      await rename(`${path}.tmp`, path);
    });
    await this.saving;
  }
}
