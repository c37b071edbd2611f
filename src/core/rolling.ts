/**
 * The rolling merge request of a `write: merge-request` environment, as data: which versions the
 * rolling branch proposes against the base, the intents that carry them onto a new base, and the
 * title and body that describe the whole difference (not only the latest batch). Pure.
 */

import { readImageVersion } from './edit-image.js';
import type { ImageVersion } from './edit-image.js';
import type { Cause, Destination, SetImage, TargetSpec } from './intent.js';
import type { TagPolicy } from './policy.js';
import { escapeCode, escapeMarkdown } from './report/markdown.js';

/** One image as an environment's config lists it: what a rolling branch can propose for it. */
export interface ScopeImage {
  image: string;
  repository: string;
  policy: TagPolicy;
  digestMode: 'pin' | 'ignore';
  targets: TargetSpec[];
}

/** An image whose version on the rolling branch differs from the base. */
export interface ProposedChange {
  image: string;
  repository: string;
  from?: ImageVersion;
  to: ImageVersion;
  files: string[];
}

/** The version an environment's files give an image: the first target that names one. */
export function versionIn(img: ScopeImage, files: Record<string, string | null | undefined>): { version?: ImageVersion; files: string[] } {
  let version: ImageVersion | undefined;
  const found: string[] = [];
  for (const t of img.targets) {
    const text = files[t.file];
    if (text === null || text === undefined) continue;
    const v = readImageVersion(text, { image: img.image, repository: img.repository, ...(t.key && { key: t.key }), ...(t.digestKey && { digestKey: t.digestKey }) });
    if (v?.tag === undefined && v?.digest === undefined) continue;
    version ??= v;
    found.push(t.file);
  }
  return { ...(version && { version }), files: found };
}

function same(a: ImageVersion | undefined, b: ImageVersion | undefined): boolean {
  return a?.tag === b?.tag && a?.digest === b?.digest;
}

/** Every image whose version differs between the base files and the rolling branch's files. */
export function proposedChanges(scope: ScopeImage[], base: Record<string, string | null | undefined>, rolling: Record<string, string | null | undefined>): ProposedChange[] {
  const out: ProposedChange[] = [];
  for (const img of scope) {
    const from = versionIn(img, base).version;
    const to = versionIn(img, rolling);
    if (!to.version || same(from, to.version)) continue;
    out.push({ image: img.image, repository: img.repository, ...(from && { from }), to: to.version, files: to.files });
  }
  return out;
}

/**
 * Intents that put what the rolling branch proposes onto a fresh base: exact versions (a carried
 * change is not re-judged by the policy), caused by what caused them, or by Baton carrying them.
 */
export function carriedIntents(changes: ProposedChange[], scope: ScopeImage[], env: string, destination: Destination, causeOf: (image: string) => Cause | undefined): SetImage[] {
  const byImage = new Map(scope.map((s) => [s.image, s]));
  return changes.flatMap((c) => {
    const img = byImage.get(c.image);
    if (!img || c.to.tag === undefined) return [];
    return [
      {
        type: 'set-image',
        destination,
        env,
        image: c.image,
        repository: c.repository,
        tag: c.to.tag,
        ...(c.to.digest !== undefined && { digest: c.to.digest }),
        digestMode: img.digestMode,
        mode: 'exact',
        policy: img.policy,
        targets: img.targets,
        cause: causeOf(c.image) ?? { source: 'baton', deliveryId: `rolling/${env}` },
      } satisfies SetImage,
    ];
  });
}

function shown(v: ImageVersion | undefined): string {
  if (!v) return '—';
  if (v.tag !== undefined) return v.digest ? `${v.tag}@${v.digest.slice(0, 19)}…` : v.tag;
  return v.digest ? `${v.digest.slice(0, 19)}…` : '—';
}

function causeText(causes: Cause[]): string {
  if (causes.length === 0) return '—';
  return causes
    .slice(0, 3)
    .map((c) => [c.sourceRef ? escapeCode(c.sourceRef) : undefined, escapeCode(`${c.source} ${c.deliveryId}`, 80), c.actor ? `by ${escapeMarkdown(c.actor, 60)}` : undefined].filter(Boolean).join(' '))
    .join('<br>');
}

/** Title and body of the rolling MR: every proposed image, base version → proposed version, and why. */
export function rollingMergeRequestText(env: string, base: string, changes: ProposedChange[], causesOf: (image: string) => Cause[]): { title: string; body: string } {
  const names = changes.map((c) => `${c.image} ${shown(c.to)}`);
  const title = names.length === 0 ? `Deploy to ${env}` : names.length <= 3 ? `Deploy to ${env}: ${names.join(', ')}` : `Deploy to ${env}: ${names.slice(0, 2).join(', ')} and ${names.length - 2} more`;
  const rows = changes.map((c) => `| ${escapeMarkdown(c.image, 80)} | ${escapeCode(shown(c.from))} | ${escapeCode(shown(c.to))} | ${c.files.map((f) => escapeCode(f, 200)).join(', ')} | ${causeText(causesOf(c.image))} |`);
  const body = [
    `Merging this deploys to **${escapeMarkdown(env, 80)}** every version below; ${escapeCode(base, 100)} runs the versions in the second column today.`,
    'Baton keeps this merge request up to date: new versions are added, and it is rebuilt on the current base when the base moves.',
    '',
    '| image | running | proposed | files | cause |',
    '|---|---|---|---|---|',
    ...rows,
  ].join('\n');
  return { title: Array.from(title).slice(0, 250).join(''), body };
}
