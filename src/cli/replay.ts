/**
 * `baton replay`: one stored delivery through the same parse → route → plan path as the server.
 * It prints the plan as a unified diff and, without --dry-run, writes it. The file is trusted (it
 * is the operator's), so authenticity is not checked; everything after that is the server's code.
 */

import { readFile } from 'node:fs/promises';
import type { Pipeline } from '../app/pipeline.js';
import { changesetDiff } from '../core/diff.js';
import type { Event } from '../core/event.js';
import { pathsOf, plan } from '../core/plan.js';
import { rollingBranch } from '../core/outcome.js';
import type { Forge } from '../forges/types.js';
import { argocdSource, fluxSource } from '../sources/cd/index.js';
import { registrySources } from '../sources/registry/index.js';
import { githubWebhookRoute } from '../sources/github/index.js';
import { createGitlabSource } from '../sources/gitlab/index.js';
import type { Delivery, Source } from '../sources/types.js';
import { MalformedPayload } from '../sources/types.js';
import type { Env } from './settings.js';

/** What `--source` accepts: the server's webhook sources, by the name of their route. */
export function replaySourceNames(): string[] {
  return ['github', 'gitlab', 'argocd', 'flux', ...Object.keys(registrySources).map((k) => `registry:${k}`)];
}

/**
 * The source a replayed delivery goes through: the same parser the server mounts at
 * `/webhooks/<name>` (GitHub and GitLab know Baton's own login from the same settings).
 */
export function sourceFor(name: string, env: Env = {}): Source | undefined {
  if (name === 'github') return githubWebhookRoute(env).source;
  if (name === 'gitlab') {
    const bot = env['BATON_GITLAB_BOT_USERNAME']?.trim();
    return createGitlabSource(bot ? { botUsername: bot } : {});
  }
  if (name === 'argocd') return argocdSource;
  if (name === 'flux') return fluxSource;
  const m = /^registry:(.+)$/.exec(name);
  if (m?.[1]) return Object.hasOwn(registrySources, m[1]) ? registrySources[m[1]] : undefined;
  return undefined;
}

export async function readDelivery(file: string, headers: string[], now: Date): Promise<{ delivery: Delivery; body: unknown }> {
  const rawBody = await readFile(file);
  const h: Record<string, string> = { 'content-type': 'application/json' };
  for (const kv of headers) {
    const i = kv.indexOf('=');
    if (i <= 0) throw new Error(`--header wants K=V, got ${kv}`);
    h[kv.slice(0, i).toLowerCase()] = kv.slice(i + 1);
  }
  return { delivery: { headers: h, query: {}, rawBody, receivedAt: now.toISOString() }, body: JSON.parse(rawBody.toString('utf8')) as unknown };
}

export interface ReplayReport {
  events: Event[];
  notes: string[];
  diff: string;
  summary: string[];
}

/** The changes `event` would make, as the server plans them (digests resolved the same way), as a diff and one line per bump or skip. */
export async function planEvent(event: Event, pipeline: Pipeline, forge: Forge, repo: string): Promise<{ notes: string[]; diff: string; summary: string[] }> {
  const run = await pipeline.runNow(event, { dryRun: true });
  let diff = '';
  const summary: string[] = [];
  for (const r of run.routed) {
    const branch = r.destination.write === 'merge-request' ? rollingBranch(r.destination.env ?? '') : r.destination.branch;
    const readBranch = (await forge.headOf(repo, branch)) ? branch : r.destination.branch;
    const snap = await forge.readFiles(repo, readBranch, pathsOf(r.intents));
    const cs = plan(r.intents, snap.files);
    diff += changesetDiff(cs, snap.files);
    for (const b of cs.bumps) summary.push(`${b.image} ${b.from ?? '∅'} → ${b.to} in ${b.env} (${branch})`);
    for (const s of cs.skipped) summary.push(`skipped ${s.image} ${s.tag} in ${s.env}: ${s.reason}`);
    for (const p of cs.problems) summary.push(`problem: ${p.message}`);
  }
  return { notes: run.notes, diff, summary };
}

export async function replay(source: Source, delivery: Delivery, body: unknown, pipeline: Pipeline, forge: Forge, repo: string, dryRun: boolean): Promise<ReplayReport> {
  let parsed;
  try {
    parsed = source.parse(body, delivery);
  } catch (e) {
    if (e instanceof MalformedPayload) throw new Error(`the delivery is not a valid ${source.id} event: ${e.message}`);
    throw e;
  }
  if (parsed.kind === 'ignored') return { events: [], notes: [`ignored: ${parsed.reason}`], diff: '', summary: [] };
  const notes: string[] = [];
  let diff = '';
  const summary: string[] = [];
  for (const event of parsed.events) {
    const planned = await planEvent(event, pipeline, forge, repo);
    notes.push(...planned.notes);
    diff += planned.diff;
    summary.push(...planned.summary);
    if (!dryRun) {
      const done = await pipeline.runNow(event);
      for (const o of done.outcomes) summary.push(o.status === 'committed' ? `committed ${o.commit} on ${o.branch}` : `nothing to change on ${o.branch}`);
    }
  }
  return { events: parsed.events, notes, diff, summary };
}
