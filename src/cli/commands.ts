/**
 * `baton promote production --as alice` and friends: the `/baton` commands for operators at a
 * shell, through the same parser, handlers and executor as comments (the shell user is trusted).
 */

import type { Logger } from 'pino';
import { createCommands } from '../app/commands.js';
import type { Pipeline } from '../app/pipeline.js';
import { parseComment } from '../core/commands/parse.js';
import type { EnvRepo } from './serve.js';

export const OPERATOR_COMMANDS = ['status', 'diff', 'deploy', 'promote', 'rollback', 'pause', 'resume'] as const;
const NEEDS_NAME = new Set(['deploy', 'promote', 'rollback', 'pause', 'resume']);

export interface OperatorRun {
  code: number;
  /** What to print on stdout (the result) and stderr (notes and errors). */
  out: string[];
  err: string[];
}

export async function runOperatorCommand(words: string[], as: string | undefined, pipeline: Pipeline, envRepo: EnvRepo, logger: Logger, now: () => number): Promise<OperatorRun> {
  const table = await pipeline.config.table();
  if (!table) return { code: 1, out: [], err: ['no valid .baton.yml in the env repository'] };
  const known = { envs: Object.keys(table.config.environments), images: Object.keys(table.config.images) };
  const parsed = parseComment(`/baton ${words.join(' ')}`, { known });
  if (parsed.kind === 'ignore') return { code: 2, out: [], err: [parsed.reason] };
  const [line] = parsed.lines;
  if (!line) return { code: 2, out: [], err: ['no command'] };
  if (line.kind === 'reply') return { code: 2, out: [], err: [line.text] };
  const cmd = line.command;
  const actor = as?.trim();
  if (NEEDS_NAME.has(cmd.name) && !actor) return { code: 2, out: [], err: [`say who is acting, for the audit trail: baton ${words.join(' ')} --as <name>`] };
  const commands = createCommands({ forge: envRepo.forge, repo: envRepo.repo, logger, now });
  const run = await commands.runCli(cmd, actor ?? 'operator', table, () => pipeline.config.invalidate());
  if (run.status !== 'queued') return run.status === 'refused' ? { code: 1, out: [], err: [run.text] } : { code: 0, out: [run.text], err: [] };
  const out = [run.text];
  let failed = false;
  for (const o of await pipeline.runIntents(run.intents)) {
    const what = o.status === 'committed' ? `committed ${o.commit}${o.mergeRequest ? ` (${o.mergeRequest.url})` : ''}` : 'nothing to change';
    if (o.problems.length > 0) failed = true;
    out.push(`${o.branch}: ${what}`);
    for (const b of o.bumps) out.push(`  ${b.image} ${b.from ?? '∅'} → ${b.to} in ${b.env}`);
    for (const s of o.skipped) out.push(`  ${s.image}: ${s.reason}`);
    for (const p of o.problems) out.push(`  problem: ${p.message}`);
  }
  return { code: failed ? 1 : 0, out, err: [] };
}
