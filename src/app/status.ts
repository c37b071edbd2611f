/**
 * What Baton did with each environment × image, for `GET /status` and `baton status`: the last
 * event seen and its result (written with the commit, skipped and why, failed and why, or the diff a
 * dry run would have written), and the last version written. Kept in memory, updated by the pipeline,
 * saved off the hot path to `<data dir>/state/status.json` (bounded) so a restart still knows.
 */

import { list } from '../sources/registry/settings.js';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { SkipReason } from '../core/changeset.js';
import { readImageVersion } from '../core/edit-image.js';
import { rollingBranch } from '../core/outcome.js';
import { sanitizeTrailerValue } from '../core/sanitize.js';
import type { Forge } from '../forges/types.js';
import type { ConfigIndex } from '../config/index.js';
import type { DeadLetter, QueueStats } from '../queue/types.js';
import { JsonFile } from './json-file.js';
import { STATE_FILE, pausedBy, readState } from '../core/commands/state.js';

export type EventResult = 'pending' | 'written' | 'skipped' | 'failed' | 'dry-run';

/** One event as it concerns one environment × image (or, unmatched, no image at all). */
export interface StatusEvent {
  /** When Baton recorded this result (ISO 8601). */
  at: string;
  source: string;
  deliveryId: string;
  tag: string;
  result: EventResult;
  /** Skipped: the reason as a fixed code (the `reason` label of `baton_skips_total`). */
  code?: SkipReason;
  /** Skipped or failed: why, as a person reads it. */
  reason?: string;
  /** Written: the commit, the branch, and the merge request when the environment writes through one. */
  commit?: string;
  branch?: string;
  mergeRequest?: string;
  /** Dry run: the unified diff Baton would have written (cut at 4 KiB). */
  diff?: string;
  /** Unmatched events: the repository the event named. */
  repository?: string;
  /** Failed (in a report): true when the event is parked as a dead letter, false while it is retried. */
  parked?: boolean;
}

export interface StatusCell {
  env: string;
  image: string;
  last?: StatusEvent;
  /** The last version this Baton wrote here. */
  written?: { version: string; commit: string; at: string };
}

interface StatusFile {
  cells: Record<string, StatusCell>;
  unmatched: StatusEvent[];
}

const EventSchema = z.looseObject({ at: z.string(), source: z.string(), deliveryId: z.string(), tag: z.string(), result: z.enum(['pending', 'written', 'skipped', 'failed', 'dry-run']) });
const CellSchema = z.looseObject({ env: z.string(), image: z.string(), last: EventSchema.optional(), written: z.object({ version: z.string(), commit: z.string(), at: z.string() }).optional() });
/** What status.json may hold; a cell of another shape (an edited or older file) is left out, not trusted. */
const StatusFileSchema = z.object({
  cells: z.record(z.string(), z.unknown()).transform((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, CellSchema.safeParse(v).data]))),
  unmatched: z.array(z.unknown()).transform((a) => a.flatMap((e) => EventSchema.safeParse(e).data ?? [])),
});

/** Bounds: cells come from `.baton.yml` names, but configs change over time; keep the newest. */
const MAX_CELLS = 1_000;
const MAX_UNMATCHED = 20;
const MAX_REASON = 500;
const MAX_DIFF = 4_096;
const MAX_ID = 128;

function bounded(event: StatusEvent): StatusEvent {
  return {
    ...event,
    deliveryId: sanitizeTrailerValue(event.deliveryId, MAX_ID),
    tag: sanitizeTrailerValue(event.tag, 140),
    ...(event.reason !== undefined && { reason: sanitizeTrailerValue(event.reason, MAX_REASON) }),
    ...(event.repository !== undefined && { repository: sanitizeTrailerValue(event.repository, 300) }),
    ...(event.diff !== undefined && { diff: event.diff.length > MAX_DIFF ? `${event.diff.slice(0, MAX_DIFF)}\n… (cut at ${MAX_DIFF} characters)\n` : event.diff }),
  };
}

export class StatusStore {
  private readonly file: JsonFile<StatusFile>;
  private state: StatusFile = { cells: {}, unmatched: [] };
  private saveTimer: NodeJS.Timeout | undefined;
  private dirty = false;

  /** @param path the file it is kept in (undefined: memory only). */
  constructor(
    path: string | undefined,
    private readonly now: () => number,
    private readonly log?: Logger,
  ) {
    this.file = new JsonFile(path, () => ({ cells: {}, unmatched: [] }));
  }

  /** Read the saved state; a missing or unreadable file is an empty one, and entries of the wrong shape are dropped. */
  async load(): Promise<void> {
    const loaded: unknown = await this.file.load();
    const parsed = StatusFileSchema.safeParse(loaded);
    const data = parsed.success ? parsed.data : { cells: {}, unmatched: [] };
    const cells = Object.create(null) as Record<string, StatusCell>;
    for (const [k, c] of Object.entries(data.cells).slice(-MAX_CELLS)) if (c) cells[k] = c as StatusCell;
    this.state = { cells, unmatched: data.unmatched.slice(-MAX_UNMATCHED) as StatusEvent[] };
  }

  private key(env: string, image: string): string {
    return `${env}/${image}`;
  }

  /** What happened to an event in one environment × image. */
  record(env: string, image: string, event: Omit<StatusEvent, 'at'>): void {
    const k = this.key(env, image);
    const cell = this.state.cells[k] ?? { env, image };
    const at = new Date(this.now()).toISOString();
    cell.last = bounded({ ...event, at });
    if (event.result === 'written' && event.commit) cell.written = { version: cell.last.tag, commit: event.commit, at };
    delete this.state.cells[k];
    this.state.cells[k] = cell;
    const keys = Object.keys(this.state.cells);
    for (const old of keys.slice(0, Math.max(0, keys.length - MAX_CELLS))) delete this.state.cells[old];
    this.changed();
  }

  /** An event that matched no configured image (the newest few are kept). */
  unmatched(event: Omit<StatusEvent, 'at'>): void {
    this.state.unmatched.push(bounded({ ...event, at: new Date(this.now()).toISOString() }));
    if (this.state.unmatched.length > MAX_UNMATCHED) this.state.unmatched.splice(0, this.state.unmatched.length - MAX_UNMATCHED);
    this.changed();
  }

  cells(): StatusCell[] {
    return Object.values(this.state.cells);
  }

  unmatchedEvents(): StatusEvent[] {
    return [...this.state.unmatched];
  }

  /** Saved at most once a second, off the event's path. */
  private changed(): void {
    this.dirty = true;
    if (this.saveTimer) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = undefined;
      void this.flush();
    }, 1_000);
    this.saveTimer.unref();
  }

  async flush(): Promise<void> {
    if (this.saveTimer) clearTimeout(this.saveTimer);
    this.saveTimer = undefined;
    if (!this.dirty) return;
    this.dirty = false;
    await this.file.save(this.state).catch((err: unknown) => this.log?.warn({ err: (err as Error).message }, 'could not save the status file'));
  }
}

/** One environment × image as `/status` shows it. */
export interface StatusRow {
  env: string;
  image: string;
  repository: string;
  /** The version the env repo holds now (undefined: not found, or the env repo could not be read). */
  envRepoVersion?: string;
  paused: boolean;
  pausedReason?: string;
  last?: StatusEvent;
  written?: StatusCell['written'];
}

export interface StatusReport {
  generatedAt: string;
  dryRun: boolean;
  envRepo: string;
  /** The `.baton.yml` in force (revision), or why there is none. */
  config: { revision?: string; problem?: string };
  environments: { env: string; branch: string; write: 'commit' | 'merge-request'; paused: boolean; rollingBranchOpen?: boolean }[];
  images: StatusRow[];
  /** Events that matched no image in `.baton.yml`, newest last. */
  unmatched: StatusEvent[];
  queue: QueueStats;
  failed: DeadLetter[];
  /** Env-repo reads that failed while building this report. */
  notes: string[];
}

export interface StatusSources {
  store: StatusStore;
  table: ConfigIndex | undefined;
  revision?: string;
  configProblem?: string;
  forge: Forge;
  repo: string;
  envRepoLabel: string;
  queue: { stats(): QueueStats; deadLetters(): DeadLetter[] };
  dryRun: boolean;
  now: () => number;
}

function pauseText(p: { by?: string; since?: string; comment?: string } | undefined): string | undefined {
  if (!p) return undefined;
  return `paused${p.by ? ` by ${p.by}` : ''}${p.since ? ` since ${p.since}` : ''}${p.comment ? ` (${p.comment})` : ''}`;
}

/** The whole picture: config environments × images, the env repo's versions (one read per branch), the store, the queue. */
export async function buildStatus(s: StatusSources): Promise<StatusReport> {
  const notes: string[] = [];
  const images: StatusRow[] = [];
  const environments: StatusReport['environments'] = [];
  const stored = new Map(s.store.cells().map((c) => [`${c.env}/${c.image}`, c]));
  const failed = s.queue.deadLetters();
  const dead = new Set(failed.map((d) => d.id));
  const table = s.table;
  if (table) {
    // Who paused what (`/baton pause`), from the state file on the default branch.
    const state = await s.forge.readFiles(s.repo, table.defaultBranch, [STATE_FILE]).then(
      (snap) => readState(snap.files[STATE_FILE]),
      () => readState(undefined),
    );
    const routes = Object.entries(table.config.images).flatMap(([name, img]) => table.imagesByRepository(img.repository).filter((r) => r.image === name));
    for (const [env, e] of Object.entries(table.config.environments)) {
      const branch = e.branch ?? table.defaultBranch;
      const inEnv = routes.flatMap((r) => r.envs.filter((x) => x.env === env).map((x) => ({ route: r, envRoute: x })));
      let files: Record<string, string | null> = {};
      try {
        files = (await s.forge.readFiles(s.repo, branch, [...new Set(inEnv.flatMap((x) => x.envRoute.targets.map((t) => t.file)))])).files;
      } catch (err) {
        notes.push(`${env}: could not read ${branch} of the env repo: ${(err as Error).message}`);
      }
      let rollingBranchOpen: boolean | undefined;
      if (e.write === 'merge-request') rollingBranchOpen = await s.forge.headOf(s.repo, rollingBranch(env)).then((h) => h !== undefined, () => undefined);
      const allPaused = inEnv.length > 0 && inEnv.every((x) => x.envRoute.paused);
      environments.push({ env, branch, write: e.write, paused: allPaused || e.auto === false, ...(rollingBranchOpen !== undefined && { rollingBranchOpen }) });
      for (const { route, envRoute } of inEnv) {
        let version: string | undefined;
        for (const t of envRoute.targets) {
          const text = files[t.file];
          if (!text) continue;
          const v = readImageVersion(text, { image: route.image, repository: route.repository, ...(t.key && { key: t.key }), ...(t.digestKey && { digestKey: t.digestKey }) });
          if (v?.tag !== undefined) {
            version = v.tag;
            break;
          }
        }
        const cell = stored.get(`${env}/${route.image}`);
        images.push({
          env,
          image: route.image,
          repository: route.repository,
          ...(version !== undefined && { envRepoVersion: version }),
          paused: envRoute.paused,
          ...(envRoute.paused && { pausedReason: pauseText(pausedBy(state.paused, env, route.image)) ?? envRoute.pausedReason ?? `${env} is paused` }),
          ...(cell?.last && { last: cell.last.result === 'failed' ? { ...cell.last, parked: dead.has(`${cell.last.source}:${cell.last.deliveryId}`) } : cell.last }),
          ...(cell?.written && { written: cell.written }),
        });
      }
    }
  }
  return {
    generatedAt: new Date(s.now()).toISOString(),
    dryRun: s.dryRun,
    envRepo: s.envRepoLabel,
    config: { ...(s.revision && { revision: s.revision }), ...(s.configProblem && { problem: s.configProblem }) },
    environments,
    images,
    unmatched: s.store.unmatchedEvents(),
    queue: s.queue.stats(),
    failed,
    notes,
  };
}

/** Who may read `/status`: BATON_STATUS_TOKEN when set, otherwise the shared registry token (or the demo token). */
export function statusSecrets(env: Readonly<Record<string, string | undefined>>, demoToken?: string): string[] {
  const own = list(env['BATON_STATUS_TOKEN']);
  if (own.length > 0) return own;
  const shared = list(env['BATON_REGISTRY_TOKEN']);
  return shared.length > 0 ? shared : demoToken ? [demoToken] : [];
}
