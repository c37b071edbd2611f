/**
 * `baton resync [--dry-run]`: ask every configured image's registry for its tags, and write what
 * each policy selects. With --dry-run, print the diff it would write (digests resolved as a real
 * run does), or "nothing would change".
 */

import { findResyncSelections } from '../app/resync.js';
import { planEvent } from './replay.js';
import { oneShotPipeline } from './serve.js';
import type { Env, Settings } from './settings.js';

export async function resyncCommand(settings: Settings, env: Env, dryRun: boolean): Promise<number> {
  const { pipeline, registry, envRepo } = await oneShotPipeline(settings, env);
  const run = await findResyncSelections(pipeline.config, registry, new Date().toISOString());
  for (const n of run.notes) console.error(`${n.image}: ${n.message}`);
  let diff = '';
  for (const e of run.selections) {
    console.log(`${e.registry}/${e.repository}: newest accepted tag ${e.tag}${e.digest ? `@${e.digest}` : ''}`);
    if (dryRun) {
      const planned = await planEvent(e, pipeline, envRepo.forge, envRepo.repo);
      for (const n of planned.notes) console.error(`  note: ${n}`);
      for (const s of planned.summary) console.log(`  ${s}`);
      diff += planned.diff;
      continue;
    }
    const done = await pipeline.runNow(e);
    for (const n of done.notes) console.error(`  note: ${n}`);
    for (const o of done.outcomes) {
      const what = o.status === 'committed' ? `committed ${o.commit}` : 'already up to date';
      console.log(`  ${o.branch}: ${what}${o.bumps.length ? ` (${o.bumps.map((b) => `${b.image} ${b.from ?? '∅'} → ${b.to} in ${b.env}`).join(', ')})` : ''}`);
    }
  }
  if (dryRun) {
    if (diff === '') console.log('nothing would change');
    else process.stdout.write(diff);
  }
  return run.notes.some((n) => n.message.startsWith('registry error')) ? 1 : 0;
}
