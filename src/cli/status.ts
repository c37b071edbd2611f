/**
 * `baton status`: per environment × image, the version the env repo holds, the last event and what
 * Baton did with it, paused environments, pending work and failed events. It asks the running server
 * (`GET /status` at BATON_URL, default http://127.0.0.1:$PORT); when none answers it reads the data
 * directory and the env repo itself, which knows everything but what is in flight.
 */

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { StatusStore, buildStatus } from '../app/status.js';
import type { StatusReport, StatusRow } from '../app/status.js';
import { sanitizeTerminal } from '../core/sanitize.js';
import { readJournal } from '../queue/journal.js';
import { displayKey } from '../queue/types.js';
import { oneShotPipeline } from './serve.js';
import type { Env, Settings } from './settings.js';

export interface StatusRun {
  code: number;
  out: string[];
  err: string[];
}

/** Where the report came from, printed first so nobody mistakes an offline read for the server's view. */
export type StatusOrigin = { kind: 'server'; url: string } | { kind: 'offline'; url: string; why: string };

function list(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** The token `baton status` sends: BATON_STATUS_TOKEN, else the registry token, else the embedded demo's. */
async function tokenFor(settings: Settings, env: Env): Promise<string | undefined> {
  const given = list(env['BATON_STATUS_TOKEN'])[0] ?? list(env['BATON_REGISTRY_TOKEN'])[0];
  if (given) return given;
  return readFile(join(settings.dataDir, 'demo-registry-token'), 'utf8').then(
    (t) => t.trim() || undefined,
    () => undefined,
  );
}

type Asked = { ok: true; report: StatusReport } | { ok: false; refused: true; reason: string } | { ok: false; refused: false; reason: string };

/** GET /status, bounded by `timeoutMs`. */
export async function askServer(url: string, token: string | undefined, timeoutMs = 10_000): Promise<Asked> {
  let res: Response;
  try {
    res = await fetch(new URL('/status', url), { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code;
    return { ok: false, refused: false, reason: cause ?? (err as Error).message };
  }
  if (res.status === 401) return { ok: false, refused: true, reason: 'the server refused the token: set BATON_STATUS_TOKEN (or BATON_REGISTRY_TOKEN) to the one it uses' };
  if (!res.ok) return { ok: false, refused: false, reason: `the server answered ${res.status}` };
  try {
    return { ok: true, report: (await res.json()) as StatusReport };
  } catch {
    return { ok: false, refused: false, reason: 'the server answered something that is not a status report' };
  }
}

/** Without a server: the status file and journal under BATON_DATA_DIR, and the env repo read now. */
export async function offlineStatus(settings: Settings, env: Env): Promise<StatusReport> {
  const store = new StatusStore(join(settings.dataDir, 'state', 'status.json'), () => Date.now());
  await store.load();
  const now = Date.now();
  const journal = await readJournal(join(settings.dataDir, 'queue', 'journal.jsonl'), { now, dedupeTtlMs: 0, readOnly: true });
  const oldest = Math.min(...journal.pending.map((p) => p.acceptedAt));
  const queue = {
    stats: () => ({ pending: journal.pending.length, batches: 0, retrying: 0, dead: journal.dead.length, oldestPendingMs: Number.isFinite(oldest) ? Math.max(0, now - oldest) : 0 }),
    deadLetters: () => journal.dead.map((d) => ({ id: displayKey(d.key), source: d.event.source, deliveryId: d.event.deliveryId, acceptedAt: d.acceptedAt, failedAt: d.failedAt, reason: d.reason })),
  };
  const { pipeline, envRepo } = await oneShotPipeline(settings, env);
  let problem: string | undefined;
  const table = await pipeline.config.table().catch((err: unknown) => {
    problem = `the env repository could not be read: ${(err as Error).message}`;
    return undefined;
  });
  if (!table && !problem) problem = 'no valid .baton.yml in the env repository';
  return buildStatus({
    store,
    table,
    ...(pipeline.config.revision !== undefined && { revision: pipeline.config.revision }),
    ...(problem && { configProblem: problem }),
    forge: envRepo.forge,
    repo: envRepo.repo,
    envRepoLabel: envRepo.label,
    queue,
    dryRun: settings.dryRun,
    now: () => now,
  });
}

const t = (text: string | undefined, max = 120): string => sanitizeTerminal(text ?? '', max);

/** What happened to the last event, in one line: "1.2.0 written in a1b2c3d", "1.1.0 skipped: … (downgrade)". */
export function describeLast(row: Pick<StatusRow, 'last'>): string {
  const l = row.last;
  if (!l) return '—';
  const tag = t(l.tag, 60);
  switch (l.result) {
    case 'written':
      return `${tag} written in ${t(l.commit, 12).slice(0, 7)}${l.mergeRequest ? ` (${t(l.mergeRequest)})` : ''}`;
    case 'skipped':
      return `${tag} skipped: ${t(l.reason)}${l.code ? ` [${l.code}]` : ''}`;
    case 'failed':
      return `${tag} failed${l.parked === true ? ' (parked; baton retry works it again)' : l.parked === false ? ' (retrying)' : ''}: ${t(l.reason)}`;
    case 'dry-run':
      return `${tag} would be written (dry run; the diff is in --json and the log)`;
    case 'pending':
      return `${tag} queued, not written yet`;
  }
}

function table(rows: string[][]): string[] {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd());
}

/** The report as a person reads it at a terminal. */
export function formatStatus(report: StatusReport, origin: StatusOrigin): string[] {
  const out: string[] = [];
  out.push(origin.kind === 'server' ? `Baton at ${t(origin.url)} (env repo ${t(report.envRepo)})` : `No Baton answered at ${t(origin.url)} (${t(origin.why)}): read from the data directory and the env repo ${t(report.envRepo)}; work in flight is not shown`);
  if (report.dryRun) out.push('DRY RUN (BATON_DRY_RUN): nothing is written; each last event shows what would have been');
  if (report.config.problem) out.push(`config: ${t(report.config.problem, 300)}`);
  else if (report.config.revision) out.push(`config: .baton.yml at ${t(report.config.revision, 12).slice(0, 12)}`);
  out.push('');
  if (report.images.length > 0) {
    const rows = [['ENVIRONMENT', 'IMAGE', 'ENV REPO', 'AUTOMATION', 'LAST WRITTEN', 'LAST EVENT']];
    for (const r of report.images) {
      rows.push([
        t(r.env, 63),
        t(r.image, 63),
        t(r.envRepoVersion ?? '—', 60),
        r.paused ? 'paused' : 'on',
        r.written ? `${t(r.written.version, 60)} (${t(r.written.commit, 12).slice(0, 7)})` : '—',
        describeLast(r),
      ]);
    }
    out.push(...table(rows));
  } else out.push('No environment × image to show (no valid .baton.yml read yet).');
  const paused = report.images.filter((r) => r.paused);
  if (paused.length > 0) {
    out.push('', 'Paused:');
    for (const r of paused) out.push(`  ${t(r.env, 63)}/${t(r.image, 63)}: ${t(r.pausedReason)}`);
  }
  const open = report.environments.filter((e) => e.rollingBranchOpen);
  if (open.length > 0) out.push('', `Rolling merge-request branches: ${open.map((e) => `baton/${t(e.env, 63)}`).join(', ')}`);
  const q = report.queue;
  out.push('', `Queue: ${q.pending} event(s) pending, ${q.batches} batch(es) waiting or writing, ${q.retrying} retrying${q.pending > 0 ? `, oldest ${Math.round(q.oldestPendingMs / 1000)} s` : ''}`);
  if (report.failed.length > 0) {
    out.push('', `Failed events (${report.failed.length}; \`baton retry ID\` works one again):`);
    for (const d of report.failed.slice(0, 20)) out.push(`  ${t(d.id, 160)}: ${t(d.reason, 300)}`);
  }
  if (report.unmatched.length > 0) {
    out.push('', 'Recent events that matched no image:');
    for (const u of report.unmatched.slice(-10)) out.push(`  ${t(u.at, 24)} ${t(u.repository ?? '', 160)}:${t(u.tag, 60)}: ${t(u.reason, 300)}`);
  }
  for (const n of report.notes) out.push(`note: ${t(n, 300)}`);
  return out;
}

/** `baton status [--json]`. */
export async function runStatus(settings: Settings, env: Env, options: { json: boolean }): Promise<StatusRun> {
  const url = settings.BATON_URL ?? `http://127.0.0.1:${settings.PORT}`;
  const asked = await askServer(url, await tokenFor(settings, env));
  if (!asked.ok && asked.refused) return { code: 1, out: [], err: [asked.reason] };
  const origin: StatusOrigin = asked.ok ? { kind: 'server', url } : { kind: 'offline', url, why: asked.reason };
  const report = asked.ok ? asked.report : await offlineStatus(settings, env);
  if (options.json) return { code: 0, out: [JSON.stringify({ origin, ...report }, null, 2)], err: [] };
  return { code: 0, out: formatStatus(report, origin), err: [] };
}
