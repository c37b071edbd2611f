/** A Changeset is the only thing the core hands to a forge: file additions/updates and deletions. */

import type { Cause } from './intent.js';

export type FileChange =
  | { type: 'write'; path: string; contents: string }
  | { type: 'delete'; path: string };

/** One image that a changeset moves, for commit messages and reports. */
export interface Bump {
  env: string;
  image: string;
  repository: string;
  from?: string;
  to: string;
  digest?: string;
  files: string[];
  causes: Cause[];
}

/** An intent that planning decided not to apply, with the reason a user would want to read. */
export interface Skip {
  env: string;
  image: string;
  tag: string;
  reason: string;
  causes: Cause[];
}

/** A target file Baton could not write safely (parse failure, byte-exact check failed, not found). */
export interface FileProblem {
  path: string;
  message: string;
}

export interface Changeset {
  changes: FileChange[];
  bumps: Bump[];
  skipped: Skip[];
  problems: FileProblem[];
  /** Full commit message (subject, body, trailers); empty when there are no changes. */
  message: string;
  /** What became of each preview intent in the batch (for the MR comment and logs). */
  previews?: PreviewResult[];
}

export function isEmpty(cs: Changeset): boolean {
  return cs.changes.length === 0;
}

/**
 * One preview as planning left it. `waiting`: the build of `sha` does not exist yet; `invalid`: the
 * template did not render to something safe and valid (nothing written, `message` says why).
 */
export interface PreviewResult {
  image: string;
  name: string;
  path: string;
  /** `github:acme/web` */
  repo: string;
  number: number;
  sha?: string;
  state: 'created' | 'updated' | 'unchanged' | 'removed' | 'absent' | 'waiting' | 'invalid' | 'skipped';
  message: string;
  /** Things Baton changed on its own (an added finalizer). */
  notes?: string[];
  causes: Cause[];
}
