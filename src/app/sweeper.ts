/**
 * The preview sweep: remove previews whose MR the forge confirms closed or merged, or that sat idle
 * past their TTL; re-create the missing preview of an open MR. A failed, partial or empty listing
 * deletes nothing: every deletion rests on the forge's answer about that one MR.
 */

import type { Logger } from 'pino';
import { parseAllDocuments } from 'yaml';
import type { ConfigIndex } from '../config/index.js';
import type { RepoRef } from '../core/event.js';
import { parseRepoRef } from '../core/event.js';
import type { Cause, Intent } from '../core/intent.js';
import type { Outcome } from '../core/outcome.js';
import { previewName } from '../core/preview/name.js';
import { KEEP_LABEL, ensureIntent, removeIntent } from '../core/preview/route.js';
import type { PreviewRoute } from '../core/preview/route.js';
import { ANNOTATION_IMAGE, ANNOTATION_MR } from '../core/preview/validate.js';
import type { Forge, MergeRequestInfo } from '../forges/types.js';
import type { AppRepos } from './previews.js';
import { toPreviewMergeRequest } from './previews.js';

export interface SweepDeps {
  forge: Forge;
  /** The env repository. */
  repo: string;
  table: () => Promise<ConfigIndex | undefined>;
  appRepos: AppRepos;
  now: () => number;
  /** At most this many previews are removed per run. */
  maxDeletes: number;
  logger: Logger;
  /** Write intents (the pipeline's `runIntents`). */
  run: (intents: Intent[]) => Promise<Outcome[]>;
}

export interface SweepEntry {
  image: string;
  name: string;
  number: number;
  reason: string;
}

export interface SweepReport {
  removed: SweepEntry[];
  recreated: SweepEntry[];
  kept: SweepEntry[];
  /** What could not be checked (and so was left alone). */
  errors: string[];
  outcomes: Outcome[];
}

interface Existing {
  number: number;
  path: string;
}

/** The folder a preview path pattern writes into (`apps/{{name}}.yaml` → `apps/`). */
export function previewFolder(pattern: string): string {
  const before = pattern.split('{{')[0] ?? '';
  return before.includes('/') ? before.slice(0, before.lastIndexOf('/') + 1) : '';
}

/** Previews of `route` present on its branch, from Baton's annotations. */
async function existingPreviews(route: PreviewRoute, deps: SweepDeps): Promise<Existing[]> {
  const folder = previewFolder(route.path);
  const listed = await deps.forge.listFiles(deps.repo, route.destination.branch, folder || undefined);
  const candidates = listed.paths.filter((p) => /\.ya?ml$/.test(p) && p !== route.template && p.startsWith(folder));
  if (candidates.length === 0) return [];
  const snapshot = await deps.forge.readFiles(deps.repo, route.destination.branch, candidates);
  const found: Existing[] = [];
  const want = `${route.source.toLowerCase()}#`;
  for (const [path, text] of Object.entries(snapshot.files)) {
    if (text === null) continue;
    for (const doc of parseAllDocuments(text)) {
      const meta: unknown = (doc.toJS() as { metadata?: { annotations?: Record<string, unknown> } } | null)?.metadata?.annotations;
      if (typeof meta !== 'object' || meta === null) continue;
      const mr = (meta as Record<string, unknown>)[ANNOTATION_MR];
      const image = (meta as Record<string, unknown>)[ANNOTATION_IMAGE];
      if (typeof mr !== 'string' || image !== route.image || !mr.toLowerCase().startsWith(want)) continue;
      const number = Number(mr.slice(want.length));
      if (Number.isSafeInteger(number) && number > 0) found.push({ number, path });
      break;
    }
  }
  return found;
}

function idle(mr: MergeRequestInfo, route: PreviewRoute, now: number): boolean {
  const at = Date.parse(mr.updatedAt);
  return Number.isFinite(at) && route.ttlMs > 0 && now - at > route.ttlMs && !mr.labels.includes(KEEP_LABEL);
}

export async function sweep(deps: SweepDeps, options: { dryRun?: boolean } = {}): Promise<SweepReport> {
  const report: SweepReport = { removed: [], recreated: [], kept: [], errors: [], outcomes: [] };
  const table = await deps.table();
  if (!table) {
    report.errors.push('no valid .baton.yml in the env repository');
    return report;
  }
  const now = deps.now();
  const removals: Intent[] = [];
  const creations: Intent[] = [];
  for (const route of table.allPreviews()) {
    const repo: RepoRef | undefined = parseRepoRef(route.source);
    const port = repo && deps.appRepos(repo);
    if (!repo || !port) {
      report.errors.push(`${route.image}: no forge access to ${route.source}`);
      continue;
    }
    const cause: Cause = { source: repo.forge === 'gitlab' ? 'gitlab' : 'github', deliveryId: `sweep-${new Date(now).toISOString()}` };
    let existing: Existing[];
    try {
      existing = await existingPreviews(route, deps);
    } catch (err) {
      report.errors.push(`${route.image}: could not list ${route.destination.branch}: ${(err as Error).message}`);
      continue;
    }
    const present = new Set(existing.map((e) => e.number));
    for (const e of existing) {
      const name = previewName(route.image, e.number);
      let mr: MergeRequestInfo | undefined;
      try {
        mr = await port.getMergeRequest(repo.path, e.number);
      } catch (err) {
        report.errors.push(`${route.image}: could not read !${e.number}: ${(err as Error).message}; kept`);
        continue;
      }
      const entry = { image: route.image, name, number: e.number };
      if (!mr) {
        // Not found is not a confirmed close (a token that lost access sees 404 too): keep, and say so.
        report.kept.push({ ...entry, reason: 'the forge does not find the merge request; kept until it confirms a close' });
        continue;
      }
      const reason = mr.state === 'merged' ? 'merged' : mr.state === 'closed' ? 'closed' : idle(mr, route, now) ? 'idle' : undefined;
      if (!reason) {
        report.kept.push({ ...entry, reason: mr.labels.includes(KEEP_LABEL) ? `labelled ${KEEP_LABEL}` : 'open' });
        continue;
      }
      if (removals.length >= deps.maxDeletes) {
        report.kept.push({ ...entry, reason: `${reason}, but this run already removes ${deps.maxDeletes} (BATON_SWEEP_MAX_DELETES)` });
        continue;
      }
      const notes: string[] = [];
      const intent = removeIntent(route, { repo, number: e.number }, reason, cause, notes);
      if (intent && intent.path === e.path) {
        removals.push(intent);
        report.removed.push({ ...entry, reason });
      } else report.errors.push(`${route.image}: ${e.path} is not where previews.${route.image}.path puts ${name}; left alone`);
    }
    if (route.trigger === 'command') continue;
    let open: MergeRequestInfo[];
    try {
      open = await port.listOpenMergeRequests(repo.path);
    } catch (err) {
      report.errors.push(`${route.image}: could not list the open merge requests of ${route.source}: ${(err as Error).message}`);
      continue;
    }
    for (const mr of open) {
      if (present.has(mr.number) || mr.fromFork || idle(mr, route, now)) continue;
      if (route.trigger === 'label' && !mr.labels.includes(route.label)) continue;
      const notes: string[] = [];
      const intent = ensureIntent(route, toPreviewMergeRequest(repo, mr), mr.headSha, { ...cause, sourceRef: `${route.source}@${mr.headSha.slice(0, 7)} (#${mr.number})` }, { build: 'unchecked', onlyIfExists: false }, notes);
      if (intent) {
        creations.push(intent);
        report.recreated.push({ image: route.image, name: intent.name, number: mr.number, reason: 'open, preview missing' });
      }
      report.errors.push(...notes);
    }
  }
  for (const e of report.errors) deps.logger.warn({ sweep: true }, e);
  deps.logger.info({ removed: report.removed.map((r) => `${r.name} (${r.reason})`), recreated: report.recreated.map((r) => r.name), kept: report.kept.length, dryRun: options.dryRun === true }, 'preview sweep');
  if (!options.dryRun && removals.length + creations.length > 0) report.outcomes = await deps.run([...removals, ...creations]);
  return report;
}
