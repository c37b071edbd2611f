/** Intents are what routing decides should happen; the executor turns a batch of them into one write. */

import type { PullRequestChanged, RepoRef, SourceId } from './event.js';
import type { TagPolicy } from './policy.js';

/** Where an intent is written: a branch, straight or through a rolling merge request. */
export interface Destination {
  branch: string;
  write: 'commit' | 'merge-request';
  /** For merge-request writes: the environment whose rolling MR (`baton/<env>`) carries the change. */
  env?: string;
}

/** One file an image is set in, as `.baton.yml` lists it. */
export interface TargetSpec {
  file: string;
  /** Helm values path of the tag (`web.image.tag`). */
  key?: string;
  /** Helm values path of the digest. */
  digestKey?: string;
}

/** Why an intent exists, carried into commit trailers and reports. */
export interface Cause {
  source: SourceId;
  deliveryId: string;
  actor?: string;
  /** `github:acme/web@3f2c1d0 (#42)` when the change is traced to an app commit. */
  sourceRef?: string;
  /** When Baton accepted the event (ms since the epoch): orders events of unordered tag policies. */
  acceptedAt?: number;
  /** The full id of that app commit, when known (CI events, image labels); trailers print 7 characters. */
  sourceSha?: string;
  /** The `/baton` command behind the intent (`promote production`), for the `Baton-Command` trailer. */
  command?: string;
  /** Where that command was written, so its author gets the result: `repo` as its forge names it. */
  comment?: { forge: 'github' | 'gitlab' | 'git' | 'cli'; repo: string; number: number; commentId: string };
  /** A rollback: who asked and why, for the `Baton-Rollback` trailer. */
  rollback?: { by: string; reason: string };
}

export interface SetImage {
  type: 'set-image';
  destination: Destination;
  env: string;
  /** Service name: the key under `images:` in `.baton.yml`. */
  image: string;
  /** Normalized full repository (`registry.example.com/team/web`, `docker.io/library/nginx`). */
  repository: string;
  tag: string;
  digest?: string;
  /** `pin` writes tag@digest, `ignore` writes the tag only. */
  digestMode: 'pin' | 'ignore';
  /** `upgrade` only moves forward by the image's policy; `exact` sets the version as asked (rollback). */
  mode: 'upgrade' | 'exact';
  /** The image's tag policy: decides the winner of a batch and forbids downgrades. */
  policy: TagPolicy;
  targets: TargetSpec[];
  cause: Cause;
}

/** The merge request a preview belongs to, as the forge or the webhook describes it. */
export type PreviewMergeRequest = Pick<PullRequestChanged, 'repo' | 'number' | 'title' | 'author' | 'headSha' | 'headBranch' | 'fromFork'>;

/** Write (or move) the preview of one image for one merge request. */
export interface EnsurePreview {
  type: 'ensure-preview';
  destination: Destination;
  /** Service name: the key under `images:` and `previews:`. */
  image: string;
  repository: string;
  /** The preview name (DNS-1123 label, stable for the MR's life). */
  name: string;
  /** File written on the preview branch (`apps/<name>.yaml`). */
  path: string;
  /** Template file on the preview branch. */
  template: string;
  mr: PreviewMergeRequest;
  /** The commit whose build the preview runs (the head, or the reviewed head for a fork command). */
  sha: string;
  tag: string;
  digest?: string;
  /**
   * `confirmed`: the build of `sha` is known to exist; `unchecked`: ask the forge (or registry) before
   * writing; `waiting`: asked, not there yet — planned as nothing, reported as waiting.
   */
  build: 'confirmed' | 'unchecked' | 'waiting';
  /** Only move a preview that already exists (pushes to an MR whose preview was made by command). */
  onlyIfExists: boolean;
  cause: Cause;
}

/** Delete the preview file of one image for one merge request. */
export interface RemovePreview {
  type: 'remove-preview';
  destination: Destination;
  image: string;
  name: string;
  path: string;
  mr: { repo: RepoRef; number: number };
  reason: 'closed' | 'merged' | 'unlabeled' | 'command' | 'idle';
  cause: Cause;
}

export type PreviewIntent = EnsurePreview | RemovePreview;

export type Intent = SetImage | EnsurePreview | RemovePreview;

export function isSetImage(i: Intent): i is SetImage {
  return i.type === 'set-image';
}

export function isPreviewIntent(i: Intent): i is PreviewIntent {
  return i.type === 'ensure-preview' || i.type === 'remove-preview';
}

/** The string that groups intents into one writer and one commit. */
export function destinationKey(d: Destination): string {
  return d.write === 'commit' ? `commit:${d.branch}` : `merge-request:${d.env ?? ''}:${d.branch}`;
}
