/**
 * Planning and `.baton.yml` parsing for large files on a worker thread: a multi-megabyte YAML edit
 * takes seconds, and on the main thread it would stall probes and every other webhook. Small inputs
 * stay inline (a worker costs tens of milliseconds to start). Each worker has a time and heap bound;
 * hitting one is reported as a problem with the file, as the same input would hit it again.
 */

import { Worker } from 'node:worker_threads';
import type { LoadResult, ParseOptions } from '../config/load.js';
import { configTooLarge, parseConfig } from '../config/load.js';
import type { Changeset } from '../core/changeset.js';
import type { Intent } from '../core/intent.js';
import { plan, pathsOf } from '../core/plan.js';
import type { PlanOptions } from '../core/plan.js';

export const DEFAULT_OFFTHREAD_BYTES = 256 * 1024;
export const DEFAULT_WORKER_TIMEOUT_MS = 120_000;
/** Heap for one worker: parsing YAML takes many times the file's size. */
const WORKER_HEAP_MB = 1024;

export interface OffThreadOptions {
  /** Inputs at least this large (UTF-16 units, summed over files) go to a worker. */
  offThreadBytes?: number;
  /** A worker running longer than this is stopped. */
  workerTimeoutMs?: number;
}

/** The input-size settings (BATON_MAX_TARGET_BYTES, BATON_MAX_CONFIG_BYTES, BATON_OFFTHREAD_BYTES), as the app passes them around. */
export interface InputLimits {
  maxTargetBytes?: number;
  maxConfigBytes?: number;
  offThreadBytes?: number;
}

export function planLimits(limits: InputLimits = {}): Pick<PlanOptions, 'maxFileBytes'> & OffThreadOptions {
  return { ...(limits.maxTargetBytes !== undefined && { maxFileBytes: limits.maxTargetBytes }), ...(limits.offThreadBytes !== undefined && { offThreadBytes: limits.offThreadBytes }) };
}

export function configLimits(limits: InputLimits = {}): ParseOptions & OffThreadOptions {
  return { ...(limits.maxConfigBytes !== undefined && { maxBytes: limits.maxConfigBytes }), ...(limits.offThreadBytes !== undefined && { offThreadBytes: limits.offThreadBytes }) };
}

export type OffThreadJob =
  | { kind: 'plan'; intents: Intent[]; files: Record<string, string | null>; options: PlanOptions }
  | { kind: 'config'; text: string; options: ParseOptions };

/** The worker entry next to this module: compiled `.js` in production, `.ts` under tsx/vitest. */
function spawn(job: OffThreadJob): Worker {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    const entry = new URL('./offthread-worker.ts', here).href;
    return new Worker(`import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(entry)}); })`, {
      eval: true,
      workerData: job,
      resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB },
    });
  }
  return new Worker(new URL('./offthread-worker.js', here), { workerData: job, resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB } });
}

function runInWorker<T>(job: OffThreadJob, timeoutMs: number): Promise<{ ok: true; value: T } | { ok: false; reason: string }> {
  return new Promise((resolve) => {
    const worker = spawn(job);
    let settled = false;
    const settle = (r: { ok: true; value: T } | { ok: false; reason: string }): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void worker.terminate();
      resolve(r);
    };
    const timer = setTimeout(() => settle({ ok: false, reason: `took longer than ${Math.round(timeoutMs / 1000)} s` }), timeoutMs);
    worker.once('message', (value: T) => settle({ ok: true, value }));
    worker.once('error', (err) => settle({ ok: false, reason: err.message.includes('heap') || (err as { code?: string }).code === 'ERR_WORKER_OUT_OF_MEMORY' ? 'needed more memory than allowed' : err.message }));
    worker.once('exit', (code) => settle({ ok: false, reason: `the worker stopped (exit ${code})` }));
  });
}

function sizeOf(files: Record<string, string | null>, paths: string[]): number {
  let n = 0;
  for (const p of paths) {
    const text = Object.hasOwn(files, p) ? files[p] : undefined;
    if (typeof text === 'string') n += text.length;
  }
  return n;
}

/** `plan` with the same inputs and result, on a worker thread when the target files are large. */
export async function planOffThread(intents: Intent[], files: Record<string, string | null>, options: PlanOptions & OffThreadOptions = {}): Promise<Changeset> {
  const { offThreadBytes = DEFAULT_OFFTHREAD_BYTES, workerTimeoutMs = DEFAULT_WORKER_TIMEOUT_MS, ...planOptions } = options;
  const paths = pathsOf(intents);
  if (sizeOf(files, paths) < offThreadBytes) return plan(intents, files, planOptions);
  // Only the files the intents name cross to the worker.
  const needed: Record<string, string | null> = {};
  for (const p of paths) if (Object.hasOwn(files, p)) needed[p] = files[p] ?? null;
  const r = await runInWorker<Changeset>({ kind: 'plan', intents, files: needed, options: planOptions }, workerTimeoutMs);
  if (r.ok) return r.value;
  return { changes: [], bumps: [], skipped: [], message: '', problems: paths.map((path) => ({ path, message: `${path} was not written: planning the change ${r.reason}` })) };
}

/** `parseConfig` with the same inputs and result, on a worker thread when the text is large. */
export async function parseConfigOffThread(text: string, options: ParseOptions & OffThreadOptions = {}): Promise<LoadResult> {
  const { offThreadBytes = DEFAULT_OFFTHREAD_BYTES, workerTimeoutMs = DEFAULT_WORKER_TIMEOUT_MS, ...parseOptions } = options;
  // Small files, and files over the cap (refused unparsed), stay on this thread.
  if (text.length < offThreadBytes || configTooLarge(text, parseOptions.maxBytes)) return parseConfig(text, parseOptions);
  const r = await runInWorker<LoadResult>({ kind: 'config', text, options: parseOptions }, workerTimeoutMs);
  return r.ok ? r.value : { ok: false, messages: [{ path: '', message: `parsing ${text.length} characters ${r.reason}` }] };
}
