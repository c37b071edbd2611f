/** Resync: ask the registries for every configured image's newest accepted tag and feed it through the normal path. */

import type { ImagePushed } from '../core/event.js';
import type { OciClient } from '../registry/index.js';
import { resync } from '../registry/index.js';
import type { ResyncNote } from '../registry/index.js';
import type { ConfigSource } from './config-source.js';

export interface ResyncRun {
  selections: ImagePushed[];
  notes: ResyncNote[];
}

export async function findResyncSelections(config: ConfigSource, registry: OciClient, nowIso: string): Promise<ResyncRun> {
  const table = await config.table();
  if (!table) return { selections: [], notes: [{ image: '*', message: 'no valid .baton.yml in the env repository' }] };
  return resync(table.config.images, registry, { now: nowIso });
}

/** `15m`, `1h`, `30s` → milliseconds; undefined for an empty setting. */
export function parseInterval(text: string | undefined): number | undefined {
  if (!text) return undefined;
  const m = /^(\d+)(s|m|h)$/.exec(text.trim());
  if (!m?.[1] || !m[2]) throw new Error(`BATON_RESYNC_INTERVAL must look like 30s, 15m or 1h (got ${JSON.stringify(text)})`);
  const unit = { s: 1_000, m: 60_000, h: 3_600_000 }[m[2] as 's' | 'm' | 'h'];
  return Number(m[1]) * unit;
}
