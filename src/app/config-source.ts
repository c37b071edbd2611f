/**
 * The config in force: `.baton.yml` read from the env repo's default branch, re-read when that
 * branch moved (checked at most every `ttlMs`, or at once after `invalidate()`), and kept at the
 * last valid version when a new one does not validate.
 */

import { ConfigIndex } from '../config/index.js';
import { ConfigStore, formatMessage } from '../config/load.js';
import type { ConfigMessage } from '../config/load.js';
import type { Forge } from '../forges/types.js';
import { configLimits, parseConfigOffThread } from './offthread.js';
import type { InputLimits } from './offthread.js';

export const CONFIG_FILE = '.baton.yml';

export interface ConfigSourceDeps {
  forge: Forge;
  repo: string;
  ttlMs: number;
  now: () => number;
  /** Told when a new `.baton.yml` is refused (the last valid one stays in force). */
  onInvalid?: (messages: ConfigMessage[], revision: string) => void;
  /** Size cap of `.baton.yml`, and when it is parsed on a worker thread (#10). */
  limits?: InputLimits;
}

export class ConfigSource {
  private readonly store = new ConfigStore();
  private index: ConfigIndex | undefined;
  private checkedAt = -Infinity;
  private branch: string | undefined;
  private loading: Promise<ConfigIndex | undefined> | undefined;

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
    const snap = await this.deps.forge.readFiles(this.deps.repo, this.branch, [CONFIG_FILE]);
    this.checkedAt = this.deps.now();
    const text = snap.files[CONFIG_FILE];
    if (text === null || text === undefined) {
      this.deps.onInvalid?.([{ path: '', message: `${CONFIG_FILE} is missing on ${this.branch}` }], snap.head);
      return this.index;
    }
    const result = await this.store.updateWith(text, snap.head, (t) => parseConfigOffThread(t, configLimits(this.deps.limits)));
    if (!result.ok) this.deps.onInvalid?.(result.messages, snap.head);
    else if (result.changed && this.store.config) this.index = new ConfigIndex(this.store.config, this.branch);
    return this.index;
  }
}

export function describeMessages(messages: ConfigMessage[]): string[] {
  return messages.map((m) => formatMessage(CONFIG_FILE, m));
}
