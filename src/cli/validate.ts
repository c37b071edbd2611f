/** `baton validate [FILE]`: check a `.baton.yml` and print located messages. */

import { readFile } from 'node:fs/promises';
import { formatMessage, parseConfig } from '../config/load.js';

export async function validateFile(file: string): Promise<{ ok: boolean; lines: string[] }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    return { ok: false, lines: [`${file}: cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}`] };
  }
  const result = parseConfig(text);
  if (!result.ok) return { ok: false, lines: result.messages.map((m) => formatMessage(file, m)) };
  const c = result.config;
  return {
    ok: true,
    lines: [`${file}: valid — ${count(Object.keys(c.environments).length, 'environment')}, ${count(Object.keys(c.images).length, 'image')}, ${count(Object.keys(c.previews).length, 'preview')}`],
  };
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
