/**
 * The reporter: tells every source merge request what was deployed where and whether it is healthy,
 * in one Baton comment per MR (edited in place) and a `baton/<env>` commit status on the app commit.
 *
 * Other features write into the same comment through this API:
 * - `recordPreview(repo, number, row)`: the previews section (one row per preview name);
 * - `recordCommandResult(repo, number, entry)`: the answers to `/baton` commands.
 * `repo` is the app repository (`{ forge: 'github', path: 'acme/web' }`), `number` its MR.
 *
 * The index "env-repo commit → causes" lives in memory and is rebuilt from the env repo's `git log`
 * (Baton's `Baton-Source` trailers) the first time it is needed after a start.
 */

import type { Logger } from 'pino';
import { z } from 'zod';
import type { CdStatus, Event, RepoRef } from '../core/event.js';
import { formatRepoRef, parseRepoRef } from '../core/event.js';
import type { Intent, SetImage } from '../core/intent.js';
import type { Outcome } from '../core/outcome.js';
import { rollingBranch } from '../core/outcome.js';
import { cdVerdict, statusDescription } from '../core/report/cd.js';
import { COMMENT_LIMITS, REPORT_MARKER, renderComment } from '../core/report/comment.js';
import type { CarriedMr, CommandResultEntry, DeploymentRow, DeployState, HistoryEntry, PreviewRow } from '../core/report/comment.js';
import { formatSourceRef, parseBatonCommit, parseSourceRef } from '../core/report/trailers.js';
import type { SourceCommit } from '../core/report/trailers.js';
import type { ConfigIndex } from '../config/index.js';
import type { CommitState, Forge, ReviewPort } from '../forges/types.js';
import type { ImageOrigin } from '../registry/client.js';
import type { Metrics } from './metrics.js';

export interface ReporterDeps {
  /** The env repository's forge and name. */
  envForge: Forge;
  envRepo: string;
  /** The review side of the forge holding an app repository, or undefined when Baton has none for it. */
  reviewsFor(ref: RepoRef): ReviewPort | undefined;
  config(): Promise<ConfigIndex | undefined>;
  /** Reads `org.opencontainers.image.revision` / `.source` of an image. */
  imageOrigin?: (repository: string, tag: string) => Promise<ImageOrigin>;
  logger: Logger;
  metrics?: Metrics;
  now: () => number;
  /** Argo CD's web URL: statuses settled by Argo CD link to the application there. */
  argocdUrl?: string;
  /** Web hosts whose `https://host/owner/name` source URLs name GitHub or GitLab repositories. */
  sourceHosts?: { github?: string[]; gitlab?: string[] };
  /** Commits per branch read back when rebuilding the index (default 200). */
  historyDepth?: number;
}

interface TrackedRow extends DeploymentRow {
  sources: SourceCommit[];
  /** The branch the operator deploys (for merge-request writes: the rolling MR's target). */
  targetBranch: string;
  /** Read back from `git log` after a start: its state is not known until the comment says it. */
  rebuilt?: boolean;
  /** A later bump of the same image in the same environment replaced it: once settled, later reports leave it alone. */
  superseded?: boolean;
}

/**
 * What the comment remembers besides its text, so a restarted Baton shows the same states: the rows
 * (with their sources as trailer strings), the recent history, previews and command results.
 */
const StoredRowSchema = z.object({
  env: z.string().max(200),
  image: z.string().max(200),
  from: z.string().max(300).optional(),
  to: z.string().max(300),
  write: z.enum(['commit', 'merge-request']),
  envCommit: z.object({ sha: z.string().regex(/^[0-9a-f]{40}$/), url: z.string().max(2000).optional() }).optional(),
  rollingMr: z.object({ number: z.number().int().positive(), url: z.string().max(2000) }).optional(),
  state: z.enum(['pending', 'success', 'failure']),
  detail: z.string().max(500).optional(),
  message: z.string().max(2000).optional(),
  at: z.string().max(40),
  sources: z.array(z.string().max(300)).max(20),
  targetBranch: z.string().max(255),
});
const StoredStateSchema = z.object({
  v: z.literal(1),
  rows: z.array(StoredRowSchema).max(500),
  history: z.array(z.object({ at: z.string().max(40), env: z.string().max(200), image: z.string().max(200), to: z.string().max(300), state: z.enum(['pending', 'success', 'failure']), detail: z.string().max(500).optional() })).max(100),
});
const STATE_OPEN = '<!-- baton:state ';
const STATE_CLOSE = ' -->';
const HISTORY_STORED = 30;

function encodeState(r: { rows: Iterable<TrackedRow>; history: HistoryEntry[] }): string {
  const rows = [...new Set(r.rows)].map((row) => ({
    env: row.env,
    image: row.image,
    ...(row.from !== undefined && { from: row.from }),
    to: row.to,
    write: row.write,
    ...(row.envCommit && { envCommit: row.envCommit }),
    ...(row.rollingMr && { rollingMr: row.rollingMr }),
    state: row.state,
    ...(row.detail !== undefined && { detail: row.detail }),
    ...(row.message !== undefined && { message: Array.from(row.message).slice(0, 1000).join('') }),
    at: row.at,
    sources: row.sources.map(formatSourceRef),
    targetBranch: row.targetBranch,
  }));
  const json = JSON.stringify({ v: 1, rows, history: r.history.slice(-HISTORY_STORED) } satisfies z.input<typeof StoredStateSchema>);
  return `${STATE_OPEN}${Buffer.from(json, 'utf8').toString('base64url')}${STATE_CLOSE}`;
}

function decodeState(body: string): z.infer<typeof StoredStateSchema> | undefined {
  const at = body.lastIndexOf(STATE_OPEN);
  if (at < 0) return undefined;
  const end = body.indexOf(STATE_CLOSE, at + STATE_OPEN.length);
  if (end < 0) return undefined;
  try {
    const json: unknown = JSON.parse(Buffer.from(body.slice(at + STATE_OPEN.length, end), 'base64url').toString('utf8'));
    const r = StoredStateSchema.safeParse(json);
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

interface Report {
  repo: RepoRef;
  number: number;
  /** The env repo's rolling MR: lists the source MRs it carries. */
  rolling: boolean;
  rows: Map<string, TrackedRow>;
  history: HistoryEntry[];
  carries: Map<string, CarriedMr>;
  previews: Map<string, PreviewRow>;
  commands: CommandResultEntry[];
  published?: string;
  /** The comment's stored state was read (once per report and process). */
  restored?: boolean;
}

const HISTORY_KEPT = 200;
const REPORTS_KEPT = 2000;
const COMMANDS_KEPT = 50;

export interface Reporter {
  /** Before a write: learn each intent's source commit and its MRs, for the `Baton-Source` trailer. */
  resolveSource(intents: Intent[]): Promise<Intent[]>;
  /** After a batch landed (the pipeline's `onOutcome`). */
  onOutcome(outcome: Outcome): Promise<void>;
  /** Every accepted event (CD statuses settle deployments). */
  onEvent(event: Event): Promise<void>;
  recordPreview(repo: RepoRef, number: number, row: PreviewRow): Promise<void>;
  recordCommandResult(repo: RepoRef, number: number, entry: CommandResultEntry): Promise<void>;
  /** Bumps skipped because their environment is paused: the source MR's comment says so. */
  recordPaused(skipped: { intent: SetImage; reason: string }[]): Promise<void>;
  /** Resolves when all reporting queued so far is done (tests, shutdown). */
  idle(): Promise<void>;
}

const rowKey = (env: string, image: string): string => `${env}\u0000${image}`;
const reportKey = (repo: RepoRef, number: number): string => `${formatRepoRef(repo).toLowerCase()}#${number}`;

/** `https://github.com/acme/web(.git)` → `github:acme/web`, for the hosts given. */
export function repoFromSourceUrl(url: string, hosts: { github?: string[]; gitlab?: string[] }): RepoRef | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return undefined;
  const path = u.pathname.replace(/^\/+|\/+$/g, '').replace(/\.git$/, '');
  if (!/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)+$/.test(path)) return undefined;
  const host = u.host.toLowerCase();
  if ((hosts.github ?? ['github.com']).includes(host) && path.split('/').length === 2) return { forge: 'github', path };
  if ((hosts.gitlab ?? ['gitlab.com']).includes(host)) return { forge: 'gitlab', path };
  return undefined;
}

export function createReporter(deps: ReporterDeps): Reporter {
  const log = deps.logger;
  const reports = new Map<string, Report>();
  const envRef: RepoRef = { forge: deps.envForge.kind, path: deps.envRepo };
  const fullShas = new Map<string, string>();
  /** Web URLs of source MRs, learned when tracing a bump (for the rolling MR's list). */
  const mrUrls = new Map<string, string>();
  /** Deployments of app commits that belong to no MR (pushed straight to the default branch): statuses only. */
  const loose = new Map<string, TrackedRow>();
  /** The newest row of each environment and image; older ones are marked superseded. */
  const latest = new Map<string, TrackedRow>();
  const makeLatest = (row: TrackedRow): void => {
    const key = rowKey(row.env, row.image);
    const prev = latest.get(key);
    if (prev && prev !== row && prev.envCommit?.sha !== row.envCommit?.sha) prev.superseded = true;
    latest.set(key, row);
  };
  const keepLoose = (s: SourceCommit, row: TrackedRow): void => {
    loose.set(`${formatRepoRef(s.repo)}@${s.sha}\u0000${row.env}\u0000${row.image}`, row);
    while (loose.size > 1000) loose.delete(loose.keys().next().value ?? '');
  };
  let tail: Promise<unknown> = Promise.resolve();
  let indexed: Promise<void> | undefined;

  /** One piece of reporting at a time, in arrival order; a failure is logged and does not stop the next. */
  function serial(what: string, fn: () => Promise<void>): Promise<void> {
    const run = tail.then(fn).catch((err: unknown) => log.warn({ err: (err as Error).message, what }, 'reporting failed'));
    tail = run;
    return run;
  }

  const iso = (): string => new Date(deps.now()).toISOString();

  function reviewsOf(r: Report): ReviewPort | undefined {
    return r.rolling ? deps.envForge.reviews : deps.reviewsFor(r.repo);
  }

  /** The report of one MR; past a bound the least recently touched are forgotten (later reports no longer reach them). */
  function report(repo: RepoRef, number: number, rolling = false): Report {
    const key = reportKey(repo, number);
    let r = reports.get(key);
    if (r) reports.delete(key);
    else r = { repo, number, rolling, rows: new Map(), history: [], carries: new Map(), previews: new Map(), commands: [] };
    reports.set(key, r);
    while (reports.size > REPORTS_KEPT) reports.delete(reports.keys().next().value ?? '');
    for (const m of [mrUrls, fullShas]) if (m.size > REPORTS_KEPT * 4) m.clear();
    return r;
  }

  function addHistory(r: Report, row: TrackedRow): void {
    r.history.push({ at: row.at, env: row.env, image: row.image, to: row.to, state: row.state, ...(row.detail !== undefined && { detail: row.detail }) });
    if (r.history.length > HISTORY_KEPT) r.history.splice(0, r.history.length - HISTORY_KEPT);
  }

  /** After a start: take the states and history the comment remembers for rows that were only read back from git. */
  async function restore(r: Report): Promise<void> {
    if (r.restored) return;
    const reviews = reviewsOf(r);
    if (!reviews?.findComment) return;
    const existing = await reviews.findComment(r.repo.path, r.number, REPORT_MARKER);
    r.restored = true;
    const stored = existing ? decodeState(existing.body) : undefined;
    if (!stored) return;
    for (const s of stored.rows) {
      const key = rowKey(s.env, s.image);
      const current = r.rows.get(key);
      const row: TrackedRow = { ...s, sources: s.sources.map(parseSourceRef).filter((x): x is SourceCommit => x !== undefined) };
      if (!current) {
        const newest = latest.get(key);
        if (newest && newest.envCommit?.sha !== row.envCommit?.sha) row.superseded = true;
        r.rows.set(key, row);
      }
      else if (current.rebuilt && current.envCommit?.sha === s.envCommit?.sha) {
        current.state = s.state;
        current.at = s.at;
        if (s.detail !== undefined) current.detail = s.detail;
        if (s.message !== undefined) current.message = s.message;
        if (s.envCommit?.url !== undefined) current.envCommit = s.envCommit;
        if (s.rollingMr) current.rollingMr = s.rollingMr;
        delete current.rebuilt;
      }
    }
    r.history.unshift(...stored.history.filter((h) => !r.history.some((x) => x.at === h.at && x.env === h.env && x.image === h.image && x.state === h.state)));
  }

  async function publish(r: Report): Promise<void> {
    const reviews = reviewsOf(r);
    if (!reviews) return;
    await restore(r);
    const rows = [...r.rows.values()].sort((a, b) => a.env.localeCompare(b.env) || a.image.localeCompare(b.image));
    const state = encodeState({ rows: r.rows.values(), history: r.history });
    const limit = r.repo.forge === 'gitlab' ? COMMENT_LIMITS.gitlab : COMMENT_LIMITS.github;
    const text = renderComment(
      {
        deployments: rows,
        history: r.history,
        ...(r.carries.size > 0 && { carries: [...r.carries.values()] }),
        ...(r.previews.size > 0 && { previews: [...r.previews.values()] }),
        ...(r.commands.length > 0 && { commandResults: r.commands }),
      },
      limit - state.length - 1,
    );
    const body = `${text}${state}\n`;
    if (body === r.published) return;
    await reviews.upsertComment(r.repo.path, r.number, REPORT_MARKER, body);
    r.published = body;
  }

  /** The full id of a source commit: known live, or found through the MRs it belongs to (trailers keep 7 characters). */
  async function fullSha(s: SourceCommit): Promise<string | undefined> {
    if (/^[0-9a-f]{40}$/.test(s.sha)) return s.sha;
    const key = `${formatRepoRef(s.repo)}@${s.sha}`;
    const known = fullShas.get(key);
    if (known) return known;
    const reviews = deps.reviewsFor(s.repo);
    const mrs = (await reviews?.mergeRequestsForCommit?.(s.repo.path, s.sha)) ?? [];
    const found = mrs.flatMap((m) => m.shas).find((x) => x.startsWith(s.sha) && /^[0-9a-f]{40}$/.test(x));
    if (found) fullShas.set(key, found);
    return found;
  }

  /** One `baton/<env>` status per app commit and environment, summing up every image it sent there. */
  async function postStatuses(sources: SourceCommit[], env: string, targetUrl: string | undefined): Promise<void> {
    const seen = new Set<string>();
    for (const s of sources) {
      const id = `${formatRepoRef(s.repo)}@${s.sha}`;
      if (seen.has(id)) continue;
      seen.add(id);
      const reviews = deps.reviewsFor(s.repo);
      if (!reviews) continue;
      const sha = await fullSha(s);
      if (!sha) continue;
      const rows = [...reports.values()]
        .filter((r) => !r.rolling && r.repo.forge === s.repo.forge && r.repo.path.toLowerCase() === s.repo.path.toLowerCase())
        .flatMap((r) => [...r.rows.values()])
        .concat([...loose.values()])
        .filter((row, i, all) => row.env === env && all.indexOf(row) === i && row.sources.some((x) => sha.startsWith(x.sha)));
      if (rows.length === 0) continue;
      const state: DeployState = rows.some((x) => x.state === 'failure') ? 'failure' : rows.some((x) => x.state === 'pending') ? 'pending' : 'success';
      const images = rows.map((x) => `${x.image} ${x.to}`).join(', ');
      const words: Record<DeployState, string> = { pending: `${images}: waiting for ${env}`, success: `${images} deployed to ${env}`, failure: `${images} failed in ${env}` };
      const firstMessage = rows.find((x) => x.state === 'failure' && x.message)?.message;
      const description = statusDescription(`${words[state]}${state === 'failure' && firstMessage ? `: ${firstMessage}` : rows[0]?.detail ? ` (${rows[0].detail})` : ''}`);
      const states: Record<DeployState, CommitState> = { pending: 'pending', success: 'success', failure: 'failure' };
      const url = targetUrl ?? rows[0]?.envCommit?.url;
      await reviews.setStatus(s.repo.path, { sha, context: `baton/${env}`, state: states[state], description, ...(url !== undefined && { targetUrl: url }) });
    }
  }

  /** Rebuild rows from the env repo's history: every environment branch and every rolling branch. */
  async function rebuildIndex(): Promise<void> {
    const list = deps.envForge.recentCommits?.bind(deps.envForge);
    const table = await deps.config();
    if (!list) return;
    if (!table) {
      // No valid .baton.yml yet: try again next time rather than never.
      indexed = undefined;
      return;
    }
    const branches = new Map<string, { target: string; write: 'commit' | 'merge-request' }>();
    for (const [env, e] of Object.entries(table.config.environments)) {
      const target = e.branch ?? table.defaultBranch;
      if (!branches.has(target)) branches.set(target, { target, write: 'commit' });
      if (e.write === 'merge-request') branches.set(rollingBranch(env), { target, write: 'merge-request' });
    }
    let found = 0;
    for (const [branch, info] of branches) {
      const commits = await list(deps.envRepo, branch, deps.historyDepth ?? 200);
      // Oldest first, so the newest bump of an environment and image is the one that stays.
      for (const c of [...commits].reverse()) {
        for (const b of parseBatonCommit(c.message)) {
          const write = table.config.environments[b.env]?.write === 'merge-request' ? 'merge-request' : info.write;
          for (const s of b.sources) {
            const rebuiltRow = (): TrackedRow => ({
              env: b.env,
              image: b.image,
              ...(b.from !== undefined && { from: b.from }),
              to: b.to,
              write,
              envCommit: { sha: c.sha },
              state: 'pending',
              detail: 'state not known since Baton restarted',
              at: iso(),
              sources: b.sources,
              targetBranch: info.target,
              rebuilt: true,
            });
            const fresh = (): TrackedRow => {
              const row = rebuiltRow();
              makeLatest(row);
              return row;
            };
            if (s.numbers.length === 0) keepLoose(s, fresh());
            for (const n of s.numbers) {
              const r = report(s.repo, n);
              const existing = r.rows.get(rowKey(b.env, b.image));
              if (existing?.envCommit?.sha === c.sha) continue;
              r.rows.set(rowKey(b.env, b.image), fresh());
              found++;
            }
          }
        }
      }
    }
    log.info({ rows: found, branches: [...branches.keys()] }, 'reporting index rebuilt from the env repo history');
  }

  function ensureIndex(): Promise<void> {
    indexed ??= rebuildIndex().catch((err: unknown) => {
      indexed = undefined;
      log.warn({ err: (err as Error).message }, 'could not rebuild the reporting index from git log');
    });
    return indexed;
  }

  async function afterOutcome(outcome: Outcome): Promise<void> {
    if (outcome.status !== 'committed') return;
    if (!outcome.bumps.some((b) => b.causes.some((c) => c.sourceRef))) return;
    await ensureIndex();
    const at = iso();
    const touched = new Set<Report>();
    const statusWork = new Map<string, SourceCommit[]>();
    const rolling = outcome.mergeRequest ? report(envRef, outcome.mergeRequest.number, true) : undefined;
    for (const b of outcome.bumps) {
      const sources: SourceCommit[] = [];
      for (const c of b.causes) {
        const parsed = c.sourceRef ? parseSourceRef(c.sourceRef) : undefined;
        if (parsed) sources.push(c.sourceSha && c.sourceSha.startsWith(parsed.sha) ? { ...parsed, sha: c.sourceSha } : parsed);
      }
      const viaMr = outcome.destination.write === 'merge-request';
      const row: TrackedRow = {
        env: b.env,
        image: b.image,
        ...(b.from !== undefined && { from: b.from }),
        to: b.to,
        write: outcome.destination.write,
        envCommit: { sha: outcome.commit, ...(outcome.url !== undefined && { url: outcome.url }) },
        ...(outcome.mergeRequest && { rollingMr: outcome.mergeRequest }),
        state: 'pending',
        detail: viaMr ? 'waiting for the merge request to be merged' : 'waiting for the operator',
        at,
        sources,
        targetBranch: outcome.destination.branch,
      };
      makeLatest(row);
      for (const s of sources) {
        if (s.numbers.length === 0) keepLoose(s, row);
        for (const n of s.numbers) {
          const r = report(s.repo, n);
          r.rows.set(rowKey(b.env, b.image), row);
          addHistory(r, row);
          touched.add(r);
          const url = mrUrls.get(reportKey(s.repo, n));
          rolling?.carries.set(reportKey(s.repo, n), { repo: formatRepoRef(s.repo), number: n, ...(url !== undefined && { url }) });
        }
      }
      if (rolling) {
        rolling.rows.set(rowKey(b.env, b.image), row);
        addHistory(rolling, row);
        touched.add(rolling);
      }
      statusWork.set(b.env, [...(statusWork.get(b.env) ?? []), ...sources]);
    }
    for (const r of touched) await publish(r);
    for (const [env, sources] of statusWork) await postStatuses(sources, env, undefined);
  }

  /** The `.baton.yml` environment a CD report is about: named by it, or the application's name ends in `-<env>`. */
  function environmentOf(e: CdStatus, table: ConfigIndex | undefined): string | undefined {
    const envs = Object.keys(table?.config.environments ?? {});
    if (e.environment !== undefined) return envs.includes(e.environment) ? e.environment : undefined;
    const name = e.application.split('/').pop() ?? e.application;
    if (envs.includes(name)) return name;
    const matches = envs.filter((env) => name.endsWith(`-${env}`) || name.startsWith(`${env}-`)).sort((a, b) => b.length - a.length);
    return matches[0];
  }

  async function settle(e: CdStatus): Promise<void> {
    await ensureIndex();
    const table = await deps.config();
    const env = environmentOf(e, table);
    if (env === undefined || e.revision === undefined) {
      log.info({ application: e.application, environment: e.environment }, 'CD status for no known environment; name the environment in the notification');
      return;
    }
    const revision = e.revision;
    const verdict = cdVerdict(e);
    const histories = new Map<string, Promise<string[]>>();
    const historyOf = (branch: string): Promise<string[]> => {
      let h = histories.get(branch);
      if (!h) {
        h = (deps.envForge.recentCommits?.(deps.envRepo, branch, deps.historyDepth ?? 200) ?? Promise.resolve([])).then((cs) => cs.map((c) => c.sha));
        histories.set(branch, h);
      }
      return h;
    };
    // A revision settles a deployment when it is that commit or a later one that contains it.
    const containsHistory = async (row: TrackedRow): Promise<boolean> => {
      const sha = row.envCommit?.sha;
      if (!sha) return false;
      if (sha === revision) return true;
      const shas = await historyOf(row.targetBranch);
      const at = shas.indexOf(revision);
      return at >= 0 && shas.indexOf(sha) > at;
    };
    // A squash-merged rolling MR leaves none of its commits in the base's history: the revision
    // that is the MR's merge (or squash) commit settles its rows too.
    let mergedHere: Promise<Set<number>> | undefined;
    const mergedByRevision = (): Promise<Set<number>> =>
      (mergedHere ??= (deps.envForge.reviews?.mergeRequestsForCommit?.(deps.envRepo, revision) ?? Promise.resolve([]))
        .then((mrs) => new Set(mrs.filter((m) => m.state === 'merged' && m.shas.includes(revision)).map((m) => m.number)))
        .catch(() => new Set<number>()));
    const containsCommit = async (row: TrackedRow): Promise<boolean> => {
      if (await containsHistory(row)) return true;
      return row.rollingMr !== undefined && (await mergedByRevision()).has(row.rollingMr.number);
    };
    // A replaced row ships with the row that replaced it: a rolling branch rebuilt on a moved base
    // leaves the older commit out of history, but its change is in the newer one.
    const contains = async (row: TrackedRow): Promise<boolean> => {
      if (await containsCommit(row)) return true;
      const newest = latest.get(rowKey(row.env, row.image));
      return row.superseded === true && newest !== undefined && newest !== row && (await containsCommit(newest));
    };
    const rows = new Set<TrackedRow>();
    for (const r of reports.values()) {
      if (![...r.rows.values()].some((row) => row.env === env)) continue;
      await restore(r).catch((err: unknown) => log.warn({ err: (err as Error).message }, 'could not read the comment back'));
      for (const row of r.rows.values()) if (row.env === env) rows.add(row);
    }
    for (const row of loose.values()) if (row.env === env) rows.add(row);
    const changed = new Set<TrackedRow>();
    for (const row of rows) {
      // A replaced row is settled once (its change ships with the newer one), then left as it was.
      if ((row.superseded && row.state !== 'pending') || !(await contains(row))) continue;
      const message = verdict.state === 'failure' && e.message !== undefined ? e.message : undefined;
      if (row.state === verdict.state && row.detail === verdict.detail && row.message === message) continue;
      if (verdict.state !== 'pending' && row.state !== verdict.state) deps.metrics?.deployResults.inc({ env, result: verdict.state });
      row.state = verdict.state;
      row.detail = verdict.detail;
      delete row.rebuilt;
      if (message !== undefined) row.message = message;
      else delete row.message;
      row.at = e.at && /^\d{4}-\d{2}-\d{2}T/.test(e.at) ? e.at : iso();
      changed.add(row);
    }
    if (changed.size === 0) return;
    for (const r of reports.values()) {
      const mine = [...r.rows.values()].filter((row) => changed.has(row));
      if (mine.length === 0) continue;
      for (const row of mine) addHistory(r, row);
      await publish(r);
    }
    const targetUrl = e.source === 'cd/argocd' && deps.argocdUrl ? `${deps.argocdUrl.replace(/\/+$/, '')}/applications/${encodeURIComponent(e.application)}` : undefined;
    await postStatuses([...changed].flatMap((row) => row.sources), env, targetUrl);
  }

  /**
   * Where an image came from: the CI event, else for an image whose `.baton.yml` entry names its
   * `source` repo, the image's `org.opencontainers.image.revision`, else a tag that is a commit sha.
   * Images without `source` are not traced: Baton would not know which repo's MRs to tell.
   */
  async function sourceOf(intent: Intent, table: ConfigIndex | undefined, origins: Map<string, Promise<ImageOrigin>>): Promise<{ repo: RepoRef; sha: string } | undefined> {
    // Previews carry their MR in their cause already; only image bumps are traced here.
    if (intent.type !== 'set-image') return undefined;
    const given = intent.cause.sourceRef ? parseSourceRef(intent.cause.sourceRef) : undefined;
    if (given) return { repo: given.repo, sha: intent.cause.sourceSha ?? given.sha };
    const configured = table?.config.images[intent.image]?.source;
    const repo = configured ? parseRepoRef(configured) : undefined;
    if (!repo) return undefined;
    if (deps.imageOrigin) {
      const key = `${intent.repository}:${intent.tag}`;
      if (!origins.has(key)) {
        origins.set(
          key,
          deps.imageOrigin(intent.repository, intent.tag).catch((err: unknown) => {
            log.info({ image: intent.image, tag: intent.tag, err: (err as Error).message }, 'could not read the image labels');
            return {};
          }),
        );
      }
      const origin = await origins.get(key);
      const revision = origin?.revision?.toLowerCase();
      // A label naming another repository is somebody else's build: trust `.baton.yml`'s source only.
      const labelled = origin?.source ? repoFromSourceUrl(origin.source, deps.sourceHosts ?? {}) : undefined;
      const sameRepo = !labelled || (labelled.forge === repo.forge && labelled.path.toLowerCase() === repo.path.toLowerCase());
      if (revision && /^[0-9a-f]{7,40}$/.test(revision) && sameRepo) return { repo, sha: revision };
    }
    if (/^[0-9a-f]{7,40}$/.test(intent.tag)) return { repo, sha: intent.tag };
    return undefined;
  }

  async function resolveSource(intents: Intent[]): Promise<Intent[]> {
    const table = await deps.config().catch(() => undefined);
    const origins = new Map<string, Promise<ImageOrigin>>();
    const lookups = new Map<string, Promise<{ numbers: number[]; full?: string }>>();
    return Promise.all(
      intents.map(async (intent) => {
        // Only image changes have an image to trace (previews and commands carry their own MR).
        if (intent.type !== 'set-image') return intent;
        try {
          const src = await sourceOf(intent, table, origins);
          if (!src) return intent;
          const key = `${formatRepoRef(src.repo)}@${src.sha}`;
          if (!lookups.has(key)) {
            const reviews = deps.reviewsFor(src.repo);
            lookups.set(
              key,
              (reviews?.mergeRequestsForCommit?.(src.repo.path, src.sha) ?? Promise.resolve([])).then((mrs) => ({
                numbers: mrs
                  .filter((m) => m.state !== 'closed')
                  .map((m) => {
                    mrUrls.set(reportKey(src.repo, m.number), m.url);
                    return m.number;
                  }),
                ...(() => {
                  const full = mrs.flatMap((m) => m.shas).find((x) => x.startsWith(src.sha) && x.length === 40);
                  return full ? { full } : {};
                })(),
              })),
            );
          }
          const found = await lookups.get(key);
          const sha = /^[0-9a-f]{40}$/.test(src.sha) ? src.sha : found?.full;
          const sourceRef = formatSourceRef({ repo: src.repo, sha: src.sha, numbers: found?.numbers ?? [] });
          return { ...intent, cause: { ...intent.cause, sourceRef, ...(sha !== undefined && { sourceSha: sha }) } };
        } catch (err) {
          log.warn({ image: intent.image, tag: intent.tag, err: (err as Error).message }, 'could not trace the image to its merge request');
          return intent;
        }
      }),
    );
  }

  return {
    resolveSource,
    onOutcome: (outcome) => serial('outcome', () => afterOutcome(outcome)),
    onEvent: (event) => (event.type === 'cd-status' ? serial('cd-status', () => settle(event)) : Promise.resolve()),
    recordPreview: (repo, number, row) =>
      serial('preview', async () => {
        const r = report(repo, number);
        r.previews.set(row.name, row);
        await publish(r);
      }),
    recordPaused: (skipped) =>
      serial('paused', async () => {
        const traced = await resolveSource(skipped.map((s) => s.intent));
        const at = iso();
        const touched = new Set<Report>();
        for (const [k, i] of traced.entries()) {
          if (i.type !== 'set-image') continue;
          const parsed = i.cause.sourceRef ? parseSourceRef(i.cause.sourceRef) : undefined;
          if (!parsed) continue;
          const row: TrackedRow = {
            env: i.env,
            image: i.image,
            to: i.tag,
            write: i.destination.write,
            state: 'pending',
            detail: `⏸ not deployed: ${skipped[k]?.reason ?? `${i.env} is paused`}`,
            at,
            sources: [parsed],
            targetBranch: i.destination.branch,
          };
          for (const n of parsed.numbers) {
            const r = report(parsed.repo, n);
            r.rows.set(rowKey(i.env, i.image), row);
            addHistory(r, row);
            touched.add(r);
          }
        }
        for (const r of touched) await publish(r);
      }),
    recordCommandResult: (repo, number, entry) =>
      serial('command', async () => {
        const r = report(repo, number);
        r.commands.push(entry);
        if (r.commands.length > COMMANDS_KEPT) r.commands.splice(0, r.commands.length - COMMANDS_KEPT);
        await publish(r);
      }),
    idle: async () => {
      for (;;) {
        const t = tail;
        await t;
        if (t === tail) return;
      }
    },
  };
}
