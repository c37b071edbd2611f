/**
 * The config in force: `.baton.yml` read from the env repo's default branch, re-read when that
 * branch moved (checked at most every `ttlMs`, or at once after `invalidate()`), and kept at the
 * last valid version when a new one does not validate.
 */

import { ConfigIndex } from '../config/index.js';
import { ConfigStore, formatMessage } from '../config/load.js';
import type { ConfigMessage } from '../config/load.js';
import type { Forge } from '../forges/types.js';
import { STATE_FILE, readState } from '../core/commands/state.js';

export const CONFIG_FILE = '.baton.yml';

export interface ConfigSourceDeps {
  forge: Forge;
  repo: string;
  ttlMs: number;
  now: () => number;
  /** Told when a new `.baton.yml` is refused (the last valid one stays in force). */
  onInvalid?: (messages: ConfigMessage[], revision: string) => void;
}

export class ConfigSource {
  private readonly store = new ConfigStore();
  private index: ConfigIndex | undefined;
  private checkedAt = -Infinity;
  private branch: string | undefined;
  private loading: Promise<ConfigIndex | undefined> | undefined;
  /** `.baton/state.yml` as last read: pauses recorded by `/baton pause`. */
  private stateText: string | null | undefined;

  constructor(private readonly deps: ConfigSourceDeps) {}

  invalidate(): void {
    this.checkedAt = -Infinity;
  }

  get revision(): string | undefined {
    return this.store.revision;
  }

  /** The routing table, or undefined when no valid config has ever been read. */
  async table(): Promise<ConfigIndex | undefined> {
    if (this.deps.now() - this.checkedAt < this.deps.ttlMs && this.index) return this.index;
    this.loading ??= this.load().finally(() => {
      this.loading = undefined;
    });
    return this.loading;
  }

  private async load(): Promise<ConfigIndex | undefined> {
    this.branch ??= await this.deps.forge.defaultBranch(this.deps.repo);
    const snap = await this.deps.forge.readFiles(this.deps.repo, this.branch, [CONFIG_FILE, STATE_FILE]);
    this.checkedAt = this.deps.now();
    const text = snap.files[CONFIG_FILE];
    if (text === null || text === undefined) {
      this.deps.onInvalid?.([{ path: '', message: `${CONFIG_FILE} is missing on ${this.branch}` }], snap.head);
      return this.index;
    }
    const result = this.store.update(text, snap.head);
    const state = snap.files[STATE_FILE] ?? null;
    const stateChanged = state !== this.stateText;
    this.stateText = state;
    if (!result.ok) this.deps.onInvalid?.(result.messages, snap.head);
    if ((result.ok && result.changed) || stateChanged) {
      const pauses = readState(state);
      if (pauses.problem) this.deps.onInvalid?.([{ path: '', message: pauses.problem }], snap.head);
      if (this.store.config) this.index = new ConfigIndex(this.store.config, this.branch, new Set(pauses.paused.keys()));
    }
    return this.index;
  }
}

export function describeMessages(messages: ConfigMessage[]): string[] {
  return messages.map((m) => formatMessage(CONFIG_FILE, m));
}
