/** Intents are what routing decides should happen; the executor turns a batch of them into one write. */

import type { SourceId } from './event.js';
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

export type Intent = SetImage;

/** The string that groups intents into one writer and one commit. */
export function destinationKey(d: Destination): string {
  return d.write === 'commit' ? `commit:${d.branch}` : `merge-request:${d.env ?? ''}:${d.branch}`;
}
