/**
 * The config in force: `.baton.yml` read from the env repo's default branch, re-read when that
 * branch moved (checked at most every `ttlMs`, or at once after `invalidate()`), and kept at the
 * last valid version when a new one does not validate. The last valid text is kept across restarts
 * (`persist`), so a restart with a broken `.baton.yml` keeps routing by the one that worked.
 */

import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ConfigIndex } from '../config/index.js';
import { ConfigStore, formatMessage } from '../config/load.js';
import type { ConfigMessage } from '../config/load.js';
import type { Forge } from '../forges/types.js';
import { configLimits, parseConfigOffThread } from './offthread.js';
import type { InputLimits } from './offthread.js';
import { STATE_FILE, readState } from '../core/commands/state.js';

export const CONFIG_FILE = '.baton.yml';

/** Where the last valid config is kept between runs (a file under BATON_DATA_DIR). */
export interface ConfigPersistence {
  load(): Promise<{ revision: string; text: string; branch: string } | undefined>;
  save(snapshot: { revision: string; text: string; branch: string }): Promise<void>;
}

export interface ConfigSourceDeps {
  forge: Forge;
  repo: string;
  ttlMs: number;
  now: () => number;
  persist?: ConfigPersistence;
  /** Size cap of `.baton.yml`, and when it is parsed on a worker thread. */
  limits?: InputLimits;
  /** Told when a new `.baton.yml` is refused; `inForce` is the revision still used, if any. */
  onInvalid?: (messages: ConfigMessage[], revision: string, inForce: string | undefined) => void;
  /** Told when a new valid config comes into force. */
  onValid?: (revision: string) => void;
}

/** No valid `.baton.yml` has been read yet: events wait (journaled) until one is. */
export class NoConfigError extends Error {
  constructor(message = `no valid ${CONFIG_FILE} has been read from the env repository yet`) {
    super(message);
    this.name = 'NoConfigError';
  }
}

export class ConfigSource {
  private readonly store = new ConfigStore();
  private index: ConfigIndex | undefined;
  private checkedAt = -Infinity;
  private branch: string | undefined;
  private loading: Promise<ConfigIndex | undefined> | undefined;
  private restored = false;
  /** `.baton/state.yml` as last read: pauses recorded by `/baton pause`. */
  private stateText: string | null | undefined;

  constructor(private readonly deps: ConfigSourceDeps) {}

  invalidate(): void {
    this.checkedAt = -Infinity;
  }

  get revision(): string | undefined {
    return this.store.revision;
  }

  /** The last valid table read, without asking the forge whether it is still fresh. */
  get latest(): ConfigIndex | undefined {
    return this.index;
  }

  /** The routing table, or undefined when no valid config has ever been read. */
  async table(): Promise<ConfigIndex | undefined> {
    if (this.deps.now() - this.checkedAt < this.deps.ttlMs && this.index) return this.index;
    this.loading ??= this.load().finally(() => {
      this.loading = undefined;
    });
    return this.loading;
  }

  /** The routing table, or NoConfigError (retryable) when none has ever been valid. */
  async require(): Promise<ConfigIndex> {
    const t = await this.table();
    if (!t) throw new NoConfigError();
    return t;
  }

  private async restore(): Promise<void> {
    if (this.restored) return;
    this.restored = true;
    const saved = await this.deps.persist?.load().catch(() => undefined);
    if (!saved) return;
    const result = this.store.update(saved.text, saved.revision);
    if (result.ok && this.store.config) this.index = new ConfigIndex(this.store.config, saved.branch);
  }

  private async load(): Promise<ConfigIndex | undefined> {
    await this.restore();
    this.branch ??= await this.deps.forge.defaultBranch(this.deps.repo);
    const snap = await this.deps.forge.readFiles(this.deps.repo, this.branch, [CONFIG_FILE, STATE_FILE]);
    this.checkedAt = this.deps.now();
    const text = snap.files[CONFIG_FILE];
    if (text === null || text === undefined) {
      this.deps.onInvalid?.([{ path: '', message: `${CONFIG_FILE} is missing on ${this.branch}` }], snap.head, this.store.revision);
      return this.index;
    }
    const result = await this.store.updateWith(text, snap.head, (t) => parseConfigOffThread(t, configLimits(this.deps.limits)));
    const state = snap.files[STATE_FILE] ?? null;
    const stateChanged = state !== this.stateText;
    this.stateText = state;
    if (!result.ok) this.deps.onInvalid?.(result.messages, snap.head, this.store.revision);
    if ((result.ok && (result.changed || !this.index)) || stateChanged) {
      const pauses = readState(state);
      if (pauses.problem) this.deps.onInvalid?.([{ path: '', message: pauses.problem }], snap.head, this.store.revision);
      if (this.store.config) this.index = new ConfigIndex(this.store.config, this.branch, new Set(pauses.paused.keys()));
      if (result.ok && result.changed && this.store.config) {
        await this.deps.persist?.save({ revision: snap.head, text, branch: this.branch }).catch(() => undefined);
        this.deps.onValid?.(snap.head);
      }
    }
    return this.index;
  }
}

export function describeMessages(messages: ConfigMessage[]): string[] {
  return messages.map((m) => formatMessage(CONFIG_FILE, m));
}

/** Keeps the last valid config in one JSON file (written whole, then renamed into place). */
export function fileConfigPersistence(path: string): ConfigPersistence {
  return {
    async load() {
      try {
        const data = JSON.parse(await readFile(path, 'utf8')) as { revision?: unknown; text?: unknown; branch?: unknown };
        if (typeof data.revision === 'string' && typeof data.text === 'string' && typeof data.branch === 'string') return { revision: data.revision, text: data.text, branch: data.branch };
      } catch {
        // None kept yet.
      }
      return undefined;
    },
    async save(snapshot) {
      await mkdir(dirname(path), { recursive: true });
      await writeFile(`${path}.tmp`, JSON.stringify(snapshot), { mode: 0o600 });
      await rename(`${path}.tmp`, path);
    },
  };
}
