/**
 * `Baton-Source: github:acme/web@3f2c1d0 (#42)` both ways, and a Baton commit message read back into
 * its bumps and their sources, so the index "env-repo commit → causes" can be rebuilt from `git log`.
 */

import type { RepoRef } from '../event.js';
import { formatRepoRef, parseRepoRef } from '../event.js';

export interface SourceCommit {
  repo: RepoRef;
  /** As known: the full sha when Baton learned it live, 7+ hex characters when read back from a trailer. */
  sha: string;
  /** Merge request numbers in the app repo that the commit belongs to. */
  numbers: number[];
}

export function formatSourceRef(s: SourceCommit): string {
  const numbers = [...new Set(s.numbers)].sort((a, b) => a - b);
  return `${formatRepoRef(s.repo)}@${s.sha.slice(0, 7)}${numbers.length > 0 ? ` (${numbers.map((n) => `#${n}`).join(', ')})` : ''}`;
}

export function parseSourceRef(text: string): SourceCommit | undefined {
  const m = /^((?:github|gitlab|git):[^@\s]+)@([0-9a-f]{7,40})(?: \((#\d{1,9}(?:, #\d{1,9})*)\))?$/.exec(text.trim());
  if (!m?.[1] || !m[2]) return undefined;
  const repo = parseRepoRef(m[1]);
  if (!repo) return undefined;
  const numbers = m[3] ? m[3].split(', ').map((n) => Number(n.slice(1))) : [];
  return { repo, sha: m[2], numbers };
}

export interface LoggedBump {
  env: string;
  image: string;
  from?: string;
  to: string;
  sources: SourceCommit[];
}

const CHANGE = /^(?:- )?(\S+) (?:(\S+) → |→ )?(\S+) in (\S+?)(?: \(.*\))?(?: \[skip ci\])?$/;

/** The bumps of a commit Baton wrote (its own format, see commit-message.ts); empty for anyone else's commit. */
export function parseBatonCommit(message: string): LoggedBump[] {
  const lines = message.split('\n');
  const trailers = lines.filter((l) => /^Baton-[A-Za-z]+: /.test(l));
  if (!trailers.some((l) => l.startsWith('Baton-Image: '))) return [];
  const changes = lines.slice(1).filter((l) => l.startsWith('- ')).map((l) => CHANGE.exec(l));
  const subject = CHANGE.exec(lines[0] ?? '');
  const matches = changes.length > 0 ? changes : [subject];
  // Sources follow the Baton-Image trailer of their bump; repeated ones were printed once.
  const groups: SourceCommit[][] = [];
  for (const t of trailers) {
    if (t.startsWith('Baton-Image: ')) groups.push([]);
    else if (t.startsWith('Baton-Source: ')) {
      const s = parseSourceRef(t.slice('Baton-Source: '.length));
      if (s) groups[groups.length - 1]?.push(s);
    }
  }
  const all = groups.flat();
  const bumps: LoggedBump[] = [];
  matches.forEach((m, i) => {
    if (!m?.[1] || !m[3] || !m[4]) return;
    const own = groups[i] ?? [];
    bumps.push({ env: m[4], image: m[1], ...(m[2] !== undefined && { from: m[2] }), to: m[3], sources: own.length > 0 ? own : all.length === 1 ? all : [] });
  });
  return bumps;
}
