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

/**
 * Why a bump was not made, as a fixed set: the `reason` label of `baton_skips_total` and the `code`
 * of a skip in `/status`. The sentence a person reads travels next to it.
 */
export const SKIP_REASONS = [
  /** No image in `.baton.yml` uses the event's repository. */
  'no-image',
  /** The tag is not a valid OCI tag, or the digest not a valid digest. */
  'invalid-tag',
  /** The tag is on the image's `ignore` list. */
  'ignored-tag',
  /** The image has an `allow` list and the tag is not on it. */
  'not-allowed',
  /** The tag is not what the policy reads: not a semantic version, no pattern match, not a number, not a sha. */
  'not-matching',
  /** semver: outside the `range` (or a prerelease no range asks for). */
  'out-of-range',
  /** The environment (or the image in it) is paused, or has `auto: false`. */
  'paused',
  /** Unordered policy: the event is older than the one behind the version written. */
  'stale',
  /** Another tag of the same image won the batch. */
  'superseded',
  /** The environment runs a newer version; Baton never downgrades by itself. */
  'downgrade',
  /** The environment already runs this version. */
  'current',
] as const;
export type SkipReason = (typeof SKIP_REASONS)[number];

/** An intent that planning decided not to apply, with the reason a user would want to read. */
export interface Skip {
  env: string;
  image: string;
  tag: string;
  reason: string;
  /** The reason as one of SKIP_REASONS (metrics, status). */
  code?: SkipReason;
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
