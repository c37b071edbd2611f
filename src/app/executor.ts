/**
 * The executor: read the target files at the branch head, plan, write with that head as the
 * expected parent; when the write is stale (someone pushed meanwhile), re-read and re-plan at once,
 * with a short growing pause. It resolves only when the change landed (or nothing needed to change);
 * every other ending throws, so no caller can count a failure as done.
 *
 * A `write: merge-request` environment is written to its rolling branch `baton/<env>`, which is
 * always "the base plus what Baton proposes": new bumps stack on it while the base stands still;
 * when the base moved, or the rolling MR was merged or closed, it is rebuilt as one commit on the
 * current base (carrying what an open MR still proposes), Renovate's model.
 */

import type { FileChange } from '../core/changeset.js';
import { pathsOf } from '../core/plan.js';
import { planLimits, planOffThread } from './offthread.js';
import type { InputLimits } from './offthread.js';
import type { Cause, Destination, Intent } from '../core/intent.js';
import type { Outcome } from '../core/outcome.js';
import { rollingBranch } from '../core/outcome.js';
import { carriedIntents, proposedChanges, rollingMergeRequestText } from '../core/rolling.js';
import type { ScopeImage } from '../core/rolling.js';
import type { Forge, MergeRequestState, OpenMergeRequest, RollingSnapshot, WriteRequest } from '../forges/types.js';
import { ForgeError, RetryableError } from '../forges/types.js';
import type { LedgerStore } from './rolling-ledger.js';

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
  /** Every image an environment lists: the rolling MR describes (and carries) them all. */
  scopeOf?: (env: string) => ScopeImage[];
  /** Causes of the versions rolling branches propose, across batches and restarts. */
  ledger?: LedgerStore;
  /** Per rolling branch: the base head and rolling head Baton last wrote (stack while both hold). */
  rolling?: Map<string, { base: string; head: string }>;
  /** Target-file cap and when planning moves to a worker thread. */
  limits?: InputLimits;
  /** Told how long each read, plan and write took (every attempt), for the latency metrics. */
  onStage?: (stage: 'read' | 'plan' | 'write', seconds: number) => void;
  /** Clock for `onStage` (ms); defaults to performance.now. */
  clock?: () => number;
}

/** Time one step for `onStage`. */
async function timed<T>(deps: ExecutorDeps, stage: 'read' | 'plan' | 'write', fn: () => Promise<T>): Promise<T> {
  if (!deps.onStage) return fn();
  const clock = deps.clock ?? (() => performance.now());
  const t0 = clock();
  try {
    return await fn();
  } finally {
    deps.onStage(stage, (clock() - t0) / 1000);
  }
}

/** Pause before re-planning on a moved head: short and growing, so contention resolves quickly. */
function staleDelay(attempt: number, random: () => number): number {
  return Math.round(Math.min(1_000, 10 * 2 ** Math.min(attempt, 7)) * random());
}

function applied(files: Record<string, string | null>, changes: FileChange[]): Record<string, string | null> {
  const out = { ...files };
  for (const c of changes) out[c.path] = c.type === 'write' ? c.contents : null;
  return out;
}

export async function execute(destination: Destination, intents: Intent[], deps: ExecutorDeps): Promise<Outcome> {
  if (destination.write === 'merge-request') return executeRolling(destination, intents, deps);
  const maxStale = deps.maxStaleAttempts ?? 40;
  const branch = destination.branch;
  const paths = pathsOf(intents);
  for (let attempt = 1; ; attempt++) {
    const snapshot = await timed(deps, 'read', () => deps.forge.readFiles(deps.repo, branch, paths));
    const cs = await timed(deps, 'plan', () => planOffThread(intents, snapshot.files, { ...(deps.skipCi && { skipCi: true }), ...planLimits(deps.limits) }));
    const base = { destination, branch, bumps: cs.bumps, skipped: cs.skipped, problems: cs.problems, attempts: attempt, ...(cs.previews && { previews: cs.previews }) };
    if (cs.changes.length === 0) return { ...base, status: 'noop' };
    const written = await timed(deps, 'write', () => deps.forge.write(deps.repo, { branch, expectedHead: snapshot.head, changes: cs.changes, message: cs.message }));
    if (written.status === 'committed') return { ...base, status: 'committed', commit: written.commit, ...(written.url && { url: written.url }) };
    if (attempt >= maxStale) throw new RetryableError(`the branch ${branch} kept moving: ${attempt} writes in a row were overtaken by other pushes`, 409);
    await deps.sleep(staleDelay(attempt, deps.random));
  }
}

async function executeRolling(destination: Destination, intents: Intent[], deps: ExecutorDeps): Promise<Outcome> {
  const maxStale = deps.maxStaleAttempts ?? 40;
  const env = destination.env ?? 'unknown';
  const branch = rollingBranch(env);
  const key = `${deps.repo}\u0000${branch}`;
  // The environment's images as configured, plus any image an intent names (a config just changed).
  const scope = [...(deps.scopeOf?.(env) ?? [])];
  for (const i of intents) {
    if (i.type === 'set-image' && !scope.some((s) => s.image === i.image)) scope.push({ image: i.image, repository: i.repository, policy: i.policy, digestMode: i.digestMode, targets: i.targets });
  }
  const paths = [...new Set([...pathsOf(intents), ...scope.flatMap((s) => s.targets.map((t) => t.file))])];
  for (let attempt = 1; ; attempt++) {
    const read = await timed(deps, 'read', () => readRolling(deps, destination.branch, branch, paths));
    const { base: baseSnap, rolling: rollSnap, state } = read;
    const known = deps.rolling?.get(key);
    const finished = state === 'merged' || state === 'closed';
    const stack = rollSnap !== undefined && !finished && known?.base === baseSnap.head && known.head === rollSnap.head;

    // Rebuilding: what an open rolling MR proposes is carried onto the current base; a merged MR's
    // versions are in the base already, and a closed one was turned down.
    const carried = stack || !rollSnap || finished ? [] : carriedIntents(proposedChanges(scope, baseSnap.files, rollSnap.files), scope, env, destination, () => undefined);
    // A carried version stays exact (it may be a rollback) unless this batch brings the same image:
    // then the policy picks between them, as it would between two bumps.
    for (const c of carried) if (intents.some((i) => i.type === 'set-image' && i.image === c.image)) c.mode = 'upgrade';
    for (const c of carried) {
      const real = await deps.ledger?.causes(env, c.image, c.tag);
      if (real?.[0]) c.cause = real[0];
    }
    const onto = stack ? rollSnap : baseSnap;
    const cs = await timed(deps, 'plan', () => planOffThread([...carried, ...intents], onto.files, { ...(deps.skipCi && { skipCi: true }), ...planLimits(deps.limits) }));
    // Carried bumps are reported too: their version now lives in this (rebuilt) commit, which is
    // what the reporter follows to the merge and the operator's verdict.
    const base = { destination, branch, bumps: cs.bumps, skipped: cs.skipped, problems: cs.problems, attempts: attempt, ...(cs.previews && { previews: cs.previews }) };

    if (cs.changes.length === 0) {
      // Nothing new; a rolling branch whose MR is missing (a failed call last time) still gets one,
      // and an open MR whose text is not what the branch proposes (its edit failed after the commit
      // landed, and this is the retry) is brought up to date — costing nothing when it already is,
      // since the read saw its text (forges with readRolling).
      if (stack && deps.forge.reviews && (state !== 'open' || read.open)) {
        const mr = await ensureRollingMr(env, destination, branch, scope, baseSnap.files, rollSnap.files, deps, read.open);
        return { ...base, status: 'noop', ...(mr && { mergeRequest: mr }) };
      }
      return { ...base, status: 'noop' };
    }
    const request: WriteRequest = stack
      ? { branch, expectedHead: rollSnap.head, changes: cs.changes, message: cs.message }
      : { branch, expectedHead: baseSnap.head, replace: rollSnap?.head ?? null, changes: cs.changes, message: cs.message };
    const written = await timed(deps, 'write', () => deps.forge.write(deps.repo, request));
    if (written.status === 'committed') {
      deps.rolling?.set(key, { base: baseSnap.head, head: written.commit });
      await deps.ledger?.record(env, cs.bumps, !stack);
      // A merged or closed MR is not the one to update: `open` is null then, and a new one is opened.
      const mr = deps.forge.reviews ? await ensureRollingMr(env, destination, branch, scope, baseSnap.files, applied(onto.files, cs.changes), deps, read.open) : undefined;
      return { ...base, status: 'committed', commit: written.commit, ...(written.url && { url: written.url }), ...(mr && { mergeRequest: mr }) };
    }
    deps.rolling?.delete(key);
    if (attempt >= maxStale) throw new RetryableError(`the branch ${branch} kept moving: ${attempt} writes in a row were overtaken by other pushes`, 409);
    await deps.sleep(staleDelay(attempt, deps.random));
  }
}

/**
 * The base, the rolling branch (undefined when it does not exist, yet or any more) and the rolling
 * MR's state: in one forge operation where the forge has one (GitHub), else three.
 */
async function readRolling(deps: ExecutorDeps, baseBranch: string, branch: string, paths: string[]): Promise<RollingSnapshot> {
  if (deps.forge.readRolling) return deps.forge.readRolling(deps.repo, baseBranch, branch, paths);
  const base = await deps.forge.readFiles(deps.repo, baseBranch, paths);
  const rolling = await deps.forge.readFiles(deps.repo, branch, paths).catch((e: unknown) => {
    if (e instanceof ForgeError && e.status === 404) return undefined;
    throw e;
  });
  const state: MergeRequestState = rolling && deps.forge.reviews ? await deps.forge.reviews.mergeRequestState(deps.repo, branch) : 'none';
  return { base, ...(rolling && { rolling }), state };
}

/** Open or update the rolling MR with the whole difference between the base and the rolling branch. */
async function ensureRollingMr(
  env: string,
  destination: Destination,
  branch: string,
  scope: ScopeImage[],
  baseFiles: Record<string, string | null>,
  rollingFiles: Record<string, string | null>,
  deps: ExecutorDeps,
  seen: OpenMergeRequest | null | undefined,
): Promise<{ number: number; url: string } | undefined> {
  const reviews = deps.forge.reviews;
  if (!reviews) return undefined;
  const changes = proposedChanges(scope, baseFiles, rollingFiles);
  const causes = new Map<string, Cause[]>();
  for (const c of changes) causes.set(c.image, (await deps.ledger?.causes(env, c.image, c.to.tag)) ?? []);
  const text = rollingMergeRequestText(env, destination.branch, changes, (image) => causes.get(image) ?? []);
  const spec = { sourceBranch: branch, targetBranch: destination.branch, ...text };
  const mr = seen === undefined ? await reviews.ensureMergeRequest(deps.repo, spec) : await reviews.ensureMergeRequest(deps.repo, spec, seen);
  return { number: mr.number, url: mr.url };
}
