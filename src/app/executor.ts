/**
 * The executor: read the target files at the branch head, plan, write with that head as the
 * expected parent; when the write is stale (someone pushed meanwhile), re-read, re-plan, retry.
 */

import { pathsOf } from '../core/plan.js';
import { planLimits, planOffThread } from './offthread.js';
import type { InputLimits } from './offthread.js';
import type { Destination, SetImage } from '../core/intent.js';
import type { Outcome } from '../core/outcome.js';
import { rollingBranch } from '../core/outcome.js';
import type { Forge } from '../forges/types.js';
import { RetryableError } from '../forges/types.js';

export interface ExecutorDeps {
  forge: Forge;
  /** The env repository, as the forge names it. */
  repo: string;
  /** Attempts before giving up on a target (stale heads and transient forge errors both count). */
  maxAttempts?: number;
  /** Base of the exponential backoff between attempts, in ms. */
  backoffMs?: number;
  random: () => number;
  sleep: (ms: number) => Promise<void>;
  /** Add `[skip ci]` to commit subjects (env repo is also an app repo). */
  skipCi?: boolean;
  /** Target-file cap and when planning moves to a worker thread (#10). */
  limits?: InputLimits;
}

function mergeRequestText(outcome: { bumps: Outcome['bumps'] }, env: string): { title: string; body: string } {
  const lines = outcome.bumps.map((b) => `| ${b.image} | ${b.from ?? '—'} | ${b.to} | ${b.files.map((f) => `\`${f}\``).join(', ')} |`);
  return {
    title: `Deploy to ${env}`,
    body: [`Baton keeps this merge request up to date with the versions waiting for ${env}.`, '', '| image | from | to | files |', '|---|---|---|---|', ...lines].join('\n'),
  };
}

export async function execute(destination: Destination, intents: SetImage[], deps: ExecutorDeps): Promise<Outcome> {
  const maxAttempts = deps.maxAttempts ?? 6;
  const backoff = deps.backoffMs ?? 200;
  const viaMr = destination.write === 'merge-request';
  const branch = viaMr ? rollingBranch(destination.env ?? 'unknown') : destination.branch;
  const paths = pathsOf(intents);
  let lastError = '';
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    try {
      if (viaMr) await deps.forge.ensureBranch(deps.repo, branch, destination.branch);
      const snapshot = await deps.forge.readFiles(deps.repo, branch, paths);
      const cs = await planOffThread(intents, snapshot.files, { ...(deps.skipCi && { skipCi: true }), ...planLimits(deps.limits) });
      const base = { destination, branch, bumps: cs.bumps, skipped: cs.skipped, problems: cs.problems, attempts: attempt };
      if (cs.changes.length === 0) return { ...base, status: 'noop' };
      const written = await deps.forge.write(deps.repo, { branch, expectedHead: snapshot.head, changes: cs.changes, message: cs.message });
      if (written.status === 'committed') {
        let mergeRequest: { number: number; url: string } | undefined;
        if (viaMr && deps.forge.reviews) {
          const text = mergeRequestText(cs, destination.env ?? branch);
          const mr = await deps.forge.reviews.ensureMergeRequest(deps.repo, { sourceBranch: branch, targetBranch: destination.branch, ...text });
          mergeRequest = { number: mr.number, url: mr.url };
        }
        return { ...base, status: 'committed', commit: written.commit, ...(written.url && { url: written.url }), ...(mergeRequest && { mergeRequest }) };
      }
      lastError = `the branch ${branch} moved while writing`;
    } catch (e) {
      if (!(e instanceof RetryableError)) {
        return { destination, branch, bumps: [], skipped: [], problems: [], attempts: attempt, status: 'failed', error: (e as Error).message };
      }
      lastError = e.message;
      if (e.retryAfterMs !== undefined && attempt < maxAttempts) {
        await deps.sleep(e.retryAfterMs);
        continue;
      }
    }
    if (attempt < maxAttempts) await deps.sleep(Math.round(backoff * 2 ** (attempt - 1) * (0.5 + deps.random())));
  }
  return { destination, branch, bumps: [], skipped: [], problems: [], attempts: maxAttempts, status: 'failed', error: `gave up after ${maxAttempts} attempts: ${lastError}` };
}
