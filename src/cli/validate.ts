/** `baton validate [FILE]`: check a `.baton.yml` and print located messages. */

import { readFile } from 'node:fs/promises';
import { ConfigIndex } from '../config/index.js';
import { formatMessage, parseConfig } from '../config/load.js';
import { checkTemplate } from '../core/preview/plan.js';
import type { Forge } from '../forges/types.js';

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

/**
 * `baton validate --repo`: the env repository's `.baton.yml` and every preview template, rendered
 * for a sample merge request and checked as a real preview would be.
 */
export async function validateRepo(forge: Forge, repo: string, label: string): Promise<{ ok: boolean; lines: string[] }> {
  const branch = await forge.defaultBranch(repo);
  const cfgText = (await forge.readFiles(repo, branch, ['.baton.yml'])).files['.baton.yml'];
  const where = `${label}@${branch}:.baton.yml`;
  if (cfgText === null || cfgText === undefined) return { ok: false, lines: [`${where}: not found`] };
  const result = parseConfig(cfgText);
  if (!result.ok) return { ok: false, lines: result.messages.map((m) => formatMessage(where, m)) };
  const lines = [`${where}: valid`];
  let ok = true;
  for (const route of new ConfigIndex(result.config, branch).allPreviews()) {
    const at = `previews.${route.image}: ${route.template} on ${route.destination.branch}`;
    let template: string | null | undefined;
    try {
      template = (await forge.readFiles(repo, route.destination.branch, [route.template])).files[route.template];
    } catch (e) {
      ok = false;
      lines.push(`${at}: cannot read: ${(e as Error).message}`);
      continue;
    }
    if (template === null || template === undefined) {
      ok = false;
      lines.push(`${at}: not found`);
      continue;
    }
    const checked = checkTemplate(route, template);
    if (checked.ok) lines.push(`${at}: valid${checked.notes.length > 0 ? ` (${checked.notes.join('; ')})` : ''}`);
    else {
      ok = false;
      for (const p of checked.problems) lines.push(`${at}: ${p}`);
    }
  }
  return { ok, lines };
}
