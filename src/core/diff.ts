/** Unified diffs of a changeset, for `baton replay --dry-run`, MR comments and `/baton diff`. */

import { createTwoFilesPatch } from 'diff';
import type { Changeset } from './changeset.js';

export function changesetDiff(cs: Changeset, before: Record<string, string | null>): string {
  return cs.changes
    .map((c) => {
      const old = (Object.hasOwn(before, c.path) ? before[c.path] : undefined) ?? '';
      const next = c.type === 'write' ? c.contents : '';
      return createTwoFilesPatch(`a/${c.path}`, c.type === 'delete' ? '/dev/null' : `b/${c.path}`, old, next, '', '', { context: 3 });
    })
    .join('');
}
