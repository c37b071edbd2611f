/** Commit messages: a human subject, a body line per change, and trailers that make `git log` the audit trail. */

import type { Bump } from './changeset.js';
import type { Cause } from './intent.js';
import { SUBJECT_MAX, sanitizeSubject, sanitizeTrailerValue } from './sanitize.js';

const LINE_MAX = 200;

/** One line, no controls, bounded: a trailer value that cannot forge another trailer. */
export function trailerValue(text: string): string {
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  const flat = text.replace(/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]+/g, ' ').trim();
  return Array.from(flat).slice(0, 200).join('');
}

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

/**
 * The trailers of a commit, values already sanitized: every string a sender wrote (actor, event id,
 * source ref) is one bounded line, so it can neither add a trailer nor end the trailer block.
 */
export function commitTrailers(bumps: Bump[]): Trailer[] {
  const out: Trailer[] = [];
  const seen = new Set<string>();
  const add = (key: Trailer[0], raw: string): void => {
    const value = sanitizeTrailerValue(raw);
    const line = `${key}: ${value}`;
    if (value === '' || seen.has(line)) return;
    seen.add(line);
    out.push([key, value]);
  };
  for (const b of bumps) {
    add('Baton-Image', `${b.repository}:${b.to}${b.digest ? `@${b.digest}` : ''}`);
    for (const c of b.causes) {
      if (c.sourceRef) add('Baton-Source', c.sourceRef);
      add('Baton-Event', `${c.source} ${c.deliveryId}`);
      if (c.actor) add('Baton-Actor', c.actor);
    }
  }
  return out;
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
  const only = previews.length === 1 && bumps.length === 0 ? previews[0] : undefined;
  const base = only ? previewPhrase(only) : bumps.length === 0 ? `Update ${previews.length} previews` : `${subjectOf(bumps)}; ${previews.length} preview${previews.length > 1 ? 's' : ''}`;
  const subject = (base.length <= SUBJECT_MAX ? base : `Update ${previews.length} previews${bumps.length > 0 ? ` and ${bumps.length} images` : ''}`) + (options.skipCi ? ' [skip ci]' : '');
  const body = only ? '' : [...previews.map((p) => `- ${previewPhrase(p)}`), ...bumps.map((b) => `- ${b.image} ${arrow(b)} in ${b.env} (${b.files.join(', ')})`)].join('\n');
  const trailers: string[] = [];
  const causeTrailers = (causes: Cause[]): void => {
    for (const c of causes) {
      if (c.sourceRef) trailers.push(`Baton-Source: ${c.sourceRef}`);
      trailers.push(`Baton-Event: ${c.source} ${c.deliveryId}`);
      if (c.actor) trailers.push(`Baton-Actor: ${c.actor}`);
      if (c.command) trailers.push(`Baton-Command: ${trailerValue(c.command)}`);
      if (c.rollback) trailers.push(`Baton-Rollback: ${trailerValue(`${c.rollback.by}: ${c.rollback.reason}`)}`);
    }
  };
  for (const p of previews) {
    trailers.push(`Baton-Preview: ${p.name}`);
    if (p.imageRef) trailers.push(`Baton-Image: ${p.imageRef}`);
    causeTrailers(p.causes);
  }
  for (const b of bumps) {
    trailers.push(`Baton-Image: ${b.repository}:${b.to}${b.digest ? `@${b.digest}` : ''}`);
    causeTrailers(b.causes);
  }
  return [subject, body, [...new Set(trailers)].join('\n')].filter((p) => p !== '').join('\n\n') + '\n';
}
