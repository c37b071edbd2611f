/**
 * The executor: read the target files at the branch head, plan, write with that head as the
 * expected parent; when the write is stale (someone pushed meanwhile), re-read and re-plan at once,
 * with a short growing pause. It resolves only when the change landed (or nothing needed to change);
 * every other ending throws, so no caller can count a failure as done.
 */

import { pathsOf, plan } from '../core/plan.js';
import type { Destination, Intent } from '../core/intent.js';
import type { Outcome } from '../core/outcome.js';
import { rollingBranch } from '../core/outcome.js';
import type { Forge } from '../forges/types.js';
import { RetryableError } from '../forges/types.js';

export interface ExecutorDeps {
  forge: Forge;
  /** The env repository, as the forge names it. */
  repo: string;
  /** Writes overtaken by someone else's push before giving up for now (the queue tries again later). */
  maxStaleAttempts?: number;
  random: () => number;
  sleep: (ms: number) => Promise<void>;
  /** Add `[skip ci]` to commit subjects (env repo is also an app repo). */
  skipCi?: boolean;
}

function mergeRequestText(outcome: { bumps: Outcome['bumps'] }, env: string): { title: string; body: string } {
  const lines = outcome.bumps.map((b) => `| ${b.image} | ${b.from ?? '—'} | ${b.to} | ${b.files.map((f) => `\`${f}\``).join(', ')} |`);
  return {
    title: `Deploy to ${env}`,
    body: [`Baton keeps this merge request up to date with the versions waiting for ${env}.`, '', '| image | from | to | files |', '|---|---|---|---|', ...lines].join('\n'),
  };
}

/** Pause before re-planning on a moved head: short and growing, so contention resolves quickly. */
function staleDelay(attempt: number, random: () => number): number {
  return Math.round(Math.min(1_000, 10 * 2 ** Math.min(attempt, 7)) * random());
}

export async function execute(destination: Destination, intents: Intent[], deps: ExecutorDeps): Promise<Outcome> {
  const maxStale = deps.maxStaleAttempts ?? 40;
  const viaMr = destination.write === 'merge-request';
  const branch = viaMr ? rollingBranch(destination.env ?? 'unknown') : destination.branch;
  const paths = pathsOf(intents);
  for (let attempt = 1; ; attempt++) {
    if (viaMr) await deps.forge.ensureBranch(deps.repo, branch, destination.branch);
    const snapshot = await deps.forge.readFiles(deps.repo, branch, paths);
    const cs = plan(intents, snapshot.files, { ...(deps.skipCi && { skipCi: true }) });
    const base = { destination, branch, bumps: cs.bumps, skipped: cs.skipped, problems: cs.problems, attempts: attempt, ...(cs.previews && { previews: cs.previews }) };
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
    if (attempt >= maxStale) throw new RetryableError(`the branch ${branch} kept moving: ${attempt} writes in a row were overtaken by other pushes`, 409);
    await deps.sleep(staleDelay(attempt, deps.random));
  }
}
