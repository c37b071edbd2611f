/** Commit messages: a human subject, a body line per change, and trailers that make `git log` the audit trail. */

import type { Bump } from './changeset.js';
import type { Cause } from './intent.js';
import { SUBJECT_MAX, sanitizeSubject, sanitizeTrailerValue } from './sanitize.js';

const LINE_MAX = 200;

function arrow(b: Bump): string {
  // The same tag pushed again with new content: say so, rather than "1.1.0 → 1.1.0".
  if (b.from === b.to && b.digest) return `${b.to} re-pinned to ${b.digest.slice(0, 19)}`;
  return b.from !== undefined ? `${b.from} → ${b.to}` : `→ ${b.to}`;
}

function subjectOf(bumps: Bump[]): string {
  const envs = [...new Set(bumps.map((b) => b.env))];
  if (bumps.length === 1 && bumps[0]) return `${bumps[0].image} ${arrow(bumps[0])} in ${bumps[0].env}`;
  const list = bumps.map((b) => `${b.image} ${b.to}`).join(', ');
  const subject = `${list} in ${envs.join(', ')}`;
  return subject.length <= SUBJECT_MAX ? subject : `Update ${bumps.length} images in ${envs.join(', ')}`;
}

export type Trailer = readonly [key: `Baton-${string}`, value: string];

/** Collects trailers: every value through the trailer sanitizer, each line once. */
function trailerList(): { add(key: Trailer[0], raw: string): void; causes(causes: Cause[]): void; out: Trailer[] } {
  const out: Trailer[] = [];
  const seen = new Set<string>();
  const add = (key: Trailer[0], raw: string): void => {
    const value = sanitizeTrailerValue(raw);
    const line = `${key}: ${value}`;
    if (value === '' || seen.has(line)) return;
    seen.add(line);
    out.push([key, value]);
  };
  const causes = (list: Cause[]): void => {
    for (const c of list) {
      if (c.sourceRef) add('Baton-Source', c.sourceRef);
      add('Baton-Event', `${c.source} ${c.deliveryId}`);
      if (c.actor) add('Baton-Actor', c.actor);
      if (c.command) add('Baton-Command', c.command);
      if (c.rollback) add('Baton-Rollback', `${c.rollback.by}: ${c.rollback.reason}`);
    }
  };
  return { add, causes, out };
}

/**
 * The trailers of a commit, values already sanitized: every string a sender wrote (actor, event id,
 * source ref, command) is one bounded line, so it can neither add a trailer nor end the trailer block.
 */
export function commitTrailers(bumps: Bump[], previews: PreviewChange[] = []): Trailer[] {
  const t = trailerList();
  for (const p of previews) {
    t.add('Baton-Preview', p.name);
    if (p.imageRef) t.add('Baton-Image', p.imageRef);
    t.causes(p.causes);
  }
  for (const b of bumps) {
    t.add('Baton-Image', `${b.repository}:${b.to}${b.digest ? `@${b.digest}` : ''}`);
    t.causes(b.causes);
  }
  return t.out;
}

export function commitMessage(bumps: Bump[], options: { skipCi?: boolean } = {}): string {
  const skip = options.skipCi ? ' [skip ci]' : '';
  // A subject above SUBJECT_MAX is only ever a single long tag or digest: bounded, not rewritten.
  const subject = sanitizeSubject(subjectOf(bumps), LINE_MAX - skip.length) + skip;
  const body = bumps.length > 1 ? bumps.map((b) => `- ${sanitizeSubject(`${b.image} ${arrow(b)} in ${b.env} (${b.files.join(', ')})`, LINE_MAX)}`).join('\n') : '';
  const trailers = commitTrailers(bumps).map(([k, v]) => `${k}: ${v}`);
  return [subject, body, trailers.join('\n')].filter((p) => p !== '').join('\n\n') + '\n';
}

/** One preview file a commit adds, moves or removes. */
export interface PreviewChange {
  verb: 'add' | 'move' | 'remove';
  /** The preview name (a DNS-1123 label, safe in a subject). */
  name: string;
  image: string;
  /** Image reference written (add/move). */
  imageRef?: string;
  tag?: string;
  /** Why a preview is removed: closed, merged, unlabeled, command, idle. */
  reason?: string;
  causes: Cause[];
}

function previewPhrase(p: PreviewChange): string {
  if (p.verb === 'remove') return `Remove preview ${p.name}${p.reason ? ` (${p.reason})` : ''}`;
  return `${p.verb === 'add' ? 'Preview' : 'Move preview'} ${p.name} to ${p.image} ${p.tag ?? ''}`.trimEnd();
}

/**
 * The message of a commit carrying preview changes (and any bumps batched with them on the same
 * branch): the same subject/body/trailer layout as bumps, with `Baton-Source` naming the MR.
 */
export function previewCommitMessage(previews: PreviewChange[], bumps: Bump[], options: { skipCi?: boolean } = {}): string {
  if (previews.length === 0) return commitMessage(bumps, options);
  const skip = options.skipCi ? ' [skip ci]' : '';
  const only = previews.length === 1 && bumps.length === 0 ? previews[0] : undefined;
  const base = only ? previewPhrase(only) : bumps.length === 0 ? `Update ${previews.length} previews` : `${subjectOf(bumps)}; ${previews.length} preview${previews.length > 1 ? 's' : ''}`;
  const subject = sanitizeSubject(base.length <= SUBJECT_MAX ? base : `Update ${previews.length} previews${bumps.length > 0 ? ` and ${bumps.length} images` : ''}`, LINE_MAX - skip.length) + skip;
  const body = only ? '' : [...previews.map((p) => `- ${sanitizeSubject(previewPhrase(p), LINE_MAX)}`), ...bumps.map((b) => `- ${sanitizeSubject(`${b.image} ${arrow(b)} in ${b.env} (${b.files.join(', ')})`, LINE_MAX)}`)].join('\n');
  const trailers = commitTrailers(bumps, previews).map(([k, v]) => `${k}: ${v}`);
  return [subject, body, trailers.join('\n')].filter((p) => p !== '').join('\n\n') + '\n';
}
