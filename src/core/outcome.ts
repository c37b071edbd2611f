/**
 * What happened to one batch of intents that was carried out, for the reporter, logs and metrics.
 * There is no "failed" outcome: a batch that did not land throws, and the queue retries or parks it.
 */

import type { Bump, FileProblem, PreviewResult, Skip } from './changeset.js';
import type { Destination } from './intent.js';

interface OutcomeBase {
  destination: Destination;
  /** The branch written to (the env branch, or `baton/<env>` for merge-request writes). */
  branch: string;
  bumps: Bump[];
  skipped: Skip[];
  problems: FileProblem[];
  attempts: number;
  /** Preview intents of the batch and what became of them (created, moved, waiting, invalid…). */
  previews?: PreviewResult[];
}

export type Outcome =
  | (OutcomeBase & { status: 'committed'; commit: string; url?: string; mergeRequest?: { number: number; url: string } })
  | (OutcomeBase & { status: 'noop' });

/** `baton/<env>`: the one rolling branch per environment for merge-request writes. */
export function rollingBranch(env: string): string {
  return `baton/${env}`;
}
