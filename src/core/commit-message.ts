/** Commit messages: a human subject, a body line per change, and trailers that make `git log` the audit trail. */

import type { Bump } from './changeset.js';

const SUBJECT_MAX = 72;

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

export function commitMessage(bumps: Bump[], options: { skipCi?: boolean } = {}): string {
  const subject = subjectOf(bumps) + (options.skipCi ? ' [skip ci]' : '');
  const body = bumps.length > 1 ? bumps.map((b) => `- ${b.image} ${arrow(b)} in ${b.env} (${b.files.join(', ')})`).join('\n') : '';
  const trailers: string[] = [];
  for (const b of bumps) {
    trailers.push(`Baton-Image: ${b.repository}:${b.to}${b.digest ? `@${b.digest}` : ''}`);
    for (const c of b.causes) {
      if (c.sourceRef) trailers.push(`Baton-Source: ${c.sourceRef}`);
      trailers.push(`Baton-Event: ${c.source} ${c.deliveryId}`);
      if (c.actor) trailers.push(`Baton-Actor: ${c.actor}`);
      if (c.command) trailers.push(`Baton-Command: ${trailerValue(c.command)}`);
      if (c.rollback) trailers.push(`Baton-Rollback: ${trailerValue(`${c.rollback.by}: ${c.rollback.reason}`)}`);
    }
  }
  return [subject, body, [...new Set(trailers)].join('\n')].filter((p) => p !== '').join('\n\n') + '\n';
}
