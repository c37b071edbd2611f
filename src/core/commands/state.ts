/**
 * `.baton/state.yml` in the env repo's default branch: what `/baton pause` and `/baton resume`
 * record, so a pause survives restarts and holds for every replica. Pure: text in, text out.
 */

import { parseDocument, isMap } from 'yaml';
import { z } from 'zod';

export const STATE_FILE = '.baton/state.yml';

const PauseSchema = z.object({ by: z.string().optional(), since: z.string().optional(), comment: z.string().optional() });
const StateSchema = z.object({ paused: z.record(z.string(), PauseSchema.nullable()).nullable().optional() });

export interface Pause {
  by?: string;
  since?: string;
  /** Where it was asked for (`github:acme/web#42`, `cli`). */
  comment?: string;
}

/** `staging` pauses the whole environment; `staging/web` one image in it. */
export function pauseKey(env: string, image?: string): string {
  return image ? `${env}/${image}` : env;
}

/** The pauses in force; an unreadable file pauses nothing and says why. */
export function readState(text: string | null | undefined): { paused: Map<string, Pause>; problem?: string } {
  if (!text) return { paused: new Map() };
  try {
    const parsed = StateSchema.safeParse(parseDocument(text).toJS());
    if (!parsed.success) return { paused: new Map(), problem: `${STATE_FILE} is not valid: ${parsed.error.issues[0]?.message ?? ''}` };
    return { paused: new Map(Object.entries(parsed.data.paused ?? {}).map(([k, v]) => [k, v ?? {}])) };
  } catch (e) {
    return { paused: new Map(), problem: `${STATE_FILE} is not YAML: ${(e as Error).message}` };
  }
}

const HEADER = '# Written by Baton (/baton pause, /baton resume). Delete an entry to resume by hand.\n';

/** The file with `key` paused (pause given) or resumed (undefined); other entries and comments are kept. */
export function writeState(text: string | null | undefined, key: string, pause: Pause | undefined): string {
  const doc = parseDocument(text && text.trim() !== '' ? text : `${HEADER}paused:\n`);
  if (!isMap(doc.contents)) return writeState(null, key, pause);
  if (!isMap(doc.get('paused'))) doc.set('paused', doc.createNode({}));
  const map = doc.get('paused');
  // Block style, one entry per pause, so `git diff` of the file reads like a log.
  if (isMap(map)) map.flow = false;
  if (pause) doc.setIn(['paused', key], doc.createNode(pause));
  else doc.deleteIn(['paused', key]);
  return doc.toString();
}

/** Whether automation of `image` in `env` is paused, and by which entry. */
export function pausedBy(paused: ReadonlyMap<string, Pause>, env: string, image: string): Pause | undefined {
  return paused.get(pauseKey(env)) ?? paused.get(pauseKey(env, image));
}
