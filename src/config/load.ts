/** Parse and validate `.baton.yml` into messages that point at the offending path and line. */

import { LineCounter, parseDocument } from 'yaml';
import type { Node } from 'yaml';
import { ConfigSchema } from './schema.js';
import type { BatonConfig } from './schema.js';

export interface ConfigMessage {
  /** Dotted path, e.g. `images.web.policy` (empty for the whole file). */
  path: string;
  line?: number;
  column?: number;
  message: string;
}

export type LoadResult = { ok: true; config: BatonConfig } | { ok: false; messages: ConfigMessage[] };

export function formatMessage(file: string, m: ConfigMessage): string {
  const where = m.line !== undefined ? `${file}:${m.line}:${m.column ?? 1}` : file;
  return `${where}: ${m.path ? `${m.path}: ` : ''}${m.message}`;
}

export function parseConfig(text: string): LoadResult {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      messages: doc.errors.map((e) => {
        const pos = lineCounter.linePos(e.pos[0]);
        return { path: '', line: pos.line, column: pos.col, message: e.message.split('\n')[0] ?? e.message };
      }),
    };
  }
  let data: unknown;
  try {
    // The yaml library refuses an alias bomb (a billion laughs) here by throwing: that is "invalid" too.
    data = doc.toJS();
  } catch (e) {
    return { ok: false, messages: [{ path: '', message: `cannot be read: ${(e as Error).message}` }] };
  }
  const result = ConfigSchema.safeParse(data ?? {});
  if (result.success) return { ok: true, config: result.data };
  return {
    ok: false,
    messages: result.error.issues.map((issue) => {
      const path = issue.path.map(String);
      // Point at the deepest node that exists: a missing key is reported at its parent.
      let node: unknown;
      for (let n = path.length; n >= 0 && !node; n--) node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true);
      const range = (node as Node | undefined)?.range;
      const pos = range ? lineCounter.linePos(range[0]) : undefined;
      // A bad record key (an environment or image name) carries the useful message one level down.
      const inner = issue.code === 'invalid_key' ? issue.issues[0]?.message : undefined;
      const message = inner ? `invalid name ${JSON.stringify(path[path.length - 1])}: ${inner}` : issue.message;
      return { path: path.join('.'), ...(pos && { line: pos.line, column: pos.col }), message };
    }),
  };
}

/**
 * Holds the config in force. A new text that does not validate leaves the last valid config in
 * place and hands back the messages, so a bad push to `.baton.yml` never stops Baton.
 */
export class ConfigStore {
  private current: { config: BatonConfig; revision: string; text: string } | undefined;

  get config(): BatonConfig | undefined {
    return this.current?.config;
  }

  get revision(): string | undefined {
    return this.current?.revision;
  }

  /** The text and revision in force, for keeping across restarts. */
  get text(): string | undefined {
    return this.current?.text;
  }

  update(text: string, revision: string): { ok: true; changed: boolean } | { ok: false; messages: ConfigMessage[] } {
    if (this.current?.revision === revision) return { ok: true, changed: false };
    const result = parseConfig(text);
    if (!result.ok) return result;
    this.current = { config: result.config, revision, text };
    return { ok: true, changed: true };
  }
}
