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
}

export function isEmpty(cs: Changeset): boolean {
  return cs.changes.length === 0;
}
