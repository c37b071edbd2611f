/** What an operator's report means for a deployment: settled (success / failure) or still pending. Pure. */

import type { CdStatus } from '../event.js';
import type { DeployState } from './comment.js';

export interface Verdict {
  state: DeployState;
  /** `Synced / Healthy`, `OutOfSync / Degraded (sync failed)`. */
  detail: string;
}

const SYNC: Record<CdStatus['sync'], string> = { synced: 'Synced', 'out-of-sync': 'OutOfSync', unknown: 'Unknown' };
const HEALTH: Record<CdStatus['health'], string> = {
  healthy: 'Healthy',
  progressing: 'Progressing',
  degraded: 'Degraded',
  suspended: 'Suspended',
  missing: 'Missing',
  unknown: 'Unknown',
};

export function cdVerdict(s: CdStatus): Verdict {
  const detail = `${SYNC[s.sync]} / ${HEALTH[s.health]}${s.operation === 'failed' ? ' (sync failed)' : ''}`;
  if (s.operation === 'failed' || s.health === 'degraded' || s.health === 'missing') return { state: 'failure', detail };
  if (s.sync === 'synced' && s.health === 'healthy' && s.operation !== 'running') return { state: 'success', detail };
  return { state: 'pending', detail };
}

/** GitHub keeps 140 characters of a status description. */
export function statusDescription(text: string): string {
  const chars = Array.from(text.replace(/\s+/g, ' ').trim());
  return chars.length <= 140 ? chars.join('') : `${chars.slice(0, 139).join('')}…`;
}
