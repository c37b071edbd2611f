/** `baton validate [FILE]`, `baton validate --repo [DIR]`: check a `.baton.yml` and print located messages. */

import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigIndex } from '../config/index.js';
import { formatMessage, parseConfig } from '../config/load.js';
import { checkTemplate } from '../core/preview/plan.js';
import type { Forge } from '../forges/types.js';
import { readImageVersion } from '../core/edit-image.js';
import { normalizeRepository } from '../core/image-ref.js';

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

/** Larger target files are not read (the server's own cap, BATON_MAX_TARGET_BYTES, defaults to this). */
const MAX_TARGET_BYTES = 4 * 1024 * 1024;

/**
 * `baton validate --repo DIR`: a local checkout of the env repository — its `.baton.yml`, and every
 * target file: it exists, and it mentions the image it is listed for (so a bump has something to edit).
 */
export async function validateCheckout(dir: string): Promise<{ ok: boolean; lines: string[] }> {
  const file = join(dir, '.baton.yml');
  const checked = await validateFile(file);
  if (!checked.ok) return checked;
  const parsed = parseConfig(await readFile(file, 'utf8'));
  if (!parsed.ok) return { ok: false, lines: parsed.messages.map((m) => formatMessage(file, m)) };
  const lines = [...checked.lines];
  let ok = true;
  for (const [image, img] of Object.entries(parsed.config.images)) {
    const repository = normalizeRepository(img.repository);
    for (const [env, targets] of Object.entries(img.targets)) {
      for (const target of targets) {
        const path = typeof target === 'string' ? target : target.file;
        const at = `images.${image}.targets.${env}: ${path}`;
        const full = join(dir, path);
        const info = await stat(full).catch(() => undefined);
        if (!info?.isFile()) {
          ok = false;
          lines.push(`${at}: not found in ${dir}`);
          continue;
        }
        if (info.size > MAX_TARGET_BYTES) {
          ok = false;
          lines.push(`${at}: ${info.size} bytes, over the ${MAX_TARGET_BYTES}-byte limit for a target file`);
          continue;
        }
        const text = await readFile(full, 'utf8');
        const selector = { image, repository, ...(typeof target !== 'string' && target.key !== undefined && { key: target.key }), ...(typeof target !== 'string' && target.digestKey !== undefined && { digestKey: target.digestKey }) };
        const version = readImageVersion(text, selector);
        if (version === undefined) {
          ok = false;
          lines.push(`${at}: does not mention ${img.repository}${typeof target !== 'string' && target.key ? ` at ${target.key}` : ''}; a bump would have nothing to edit`);
        } else lines.push(`${at}: ${img.repository}${version.tag !== undefined ? ` at ${version.tag}` : ''}`);
      }
    }
  }
  return { ok, lines };
}
