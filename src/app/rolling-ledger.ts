/**
 * Why each version on a rolling `baton/<env>` branch is there: the causes (event, actor, source
 * commit) of the bump that proposed it, so the rolling MR's body can name them for every image, not
 * only the latest batch's. Kept in a small file; forgotten when the rolling MR is merged or closed.
 */

import type { Bump } from '../core/changeset.js';
import type { Cause } from '../core/intent.js';
import { JsonFile } from './json-file.js';

type Ledger = Record<string, Record<string, { to: string; causes: Cause[] }>>;

/** Where the ledger lives: a file for one process, Redis when replicas share the work (src/queue/redis.ts). */
export interface LedgerStore {
  causes(env: string, image: string, to?: string): Promise<Cause[]>;
  record(env: string, bumps: Bump[], fresh: boolean): Promise<void>;
}

/** The causes worth keeping for one bump (Baton's own causes are not news; the last five suffice). */
export function ledgerCauses(b: Bump): Cause[] {
  return b.causes.filter((c) => c.source !== 'baton').slice(-5);
}

export class RollingLedger implements LedgerStore {
  private readonly file: JsonFile<Ledger>;

  constructor(path?: string) {
    this.file = new JsonFile(path, () => ({}));
  }

  private static envOf(ledger: Ledger, env: string): Record<string, { to: string; causes: Cause[] }> {
    if (!Object.hasOwn(ledger, env)) ledger[env] = Object.create(null) as Record<string, { to: string; causes: Cause[] }>;
    return ledger[env] as Record<string, { to: string; causes: Cause[] }>;
  }

  /** Causes of `image`'s proposed version `to` in `env` (none when another version is recorded). */
  async causes(env: string, image: string, to?: string): Promise<Cause[]> {
    const ledger = await this.file.load();
    const entry = Object.hasOwn(ledger, env) && Object.hasOwn(ledger[env] ?? {}, image) ? ledger[env]?.[image] : undefined;
    if (!entry || (to !== undefined && entry.to !== to)) return [];
    return entry.causes;
  }

  /** A batch landed on the rolling branch: its bumps are what the branch now proposes. */
  async record(env: string, bumps: Bump[], fresh: boolean): Promise<void> {
    const ledger = await this.file.load();
    if (fresh) ledger[env] = Object.create(null) as Record<string, { to: string; causes: Cause[] }>;
    const entries = RollingLedger.envOf(ledger, env);
    for (const b of bumps) {
      const real = ledgerCauses(b);
      if (real.length === 0) continue;
      entries[b.image] = { to: b.to, causes: real };
    }
    await this.file.save(ledger);
  }
}
