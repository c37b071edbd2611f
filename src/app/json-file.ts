/** Small state kept in one JSON file under BATON_DATA_DIR: read once, written whole and renamed into place, one write at a time. */

import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

export class JsonFile<T> {
  private loaded: Promise<T> | undefined;
  private saving: Promise<void> = Promise.resolve();

  /** @param path where the file lives; undefined keeps the state in memory only (tests, one-shot commands). */
  constructor(
    private readonly path: string | undefined,
    private readonly empty: () => T,
  ) {}

  /** The state as last saved (or empty when there is no readable file yet). */
  load(): Promise<T> {
    this.loaded ??= (async () => {
      if (!this.path) return this.empty();
      try {
        return JSON.parse(await readFile(this.path, 'utf8')) as T;
      } catch {
        return this.empty();
      }
    })();
    return this.loaded;
  }

  /** Write `value` (normally the object `load` returned, changed in place). */
  async save(value: T): Promise<void> {
    const path = this.path;
    if (!path) return;
    this.saving = this.saving
      .catch(() => undefined)
      .then(async () => {
        await mkdir(dirname(path), { recursive: true });
        await writeFile(`${path}.tmp`, JSON.stringify(value), { mode: 0o600 });
        await rename(`${path}.tmp`, path);
      });
    await this.saving;
  }
}
