/** What the Argo CD and Flux sources share: secrets from settings, delivery ids, revisions. */

import { createHash } from 'node:crypto';

/** A comma-separated secret setting: several values are accepted at once, so a secret can be rotated. */
export function parseSecretList(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** Operators repeat a notification with the same bytes on retry; the body (with its timestamp) is the identity. */
export function bodyDeliveryId(raw: Buffer): string {
  return `sha256:${createHash('sha256').update(raw).digest('hex')}`;
}

/**
 * The commit of a reported revision: a bare sha, Flux's `main@sha1:<sha>` / `sha1:<sha>`, or the
 * older `main/<sha>`. Anything else (Helm chart versions, OCI digests) is not a git commit.
 */
export function commitOfRevision(revision: string | undefined): string | undefined {
  if (!revision) return undefined;
  const m = /(?:^|@|\/|sha1:)([0-9a-f]{40})$/.exec(revision.trim());
  return m?.[1];
}

/** Go templates print `<no value>` for a missing field; treat it, and the empty string, as absent. */
export function present(value: string | null | undefined): string | undefined {
  if (value === null || value === undefined) return undefined;
  const v = value.trim();
  return v === '' || v === '<no value>' || v === '<nil>' ? undefined : v;
}
