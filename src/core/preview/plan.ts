/** Plan preview intents against the files at one head: which preview files to write or delete. Pure. */

import type { PreviewResult } from '../changeset.js';
import type { PreviewChange } from '../commit-message.js';
import { formatRepoRef } from '../event.js';
import type { EnsurePreview, PreviewIntent } from '../intent.js';
import { branchSlug } from './name.js';
import { renderTemplate, stringifyDocuments } from './render.js';
import type { TemplateVars } from './render.js';
import { ANNOTATION_IMAGE, ANNOTATION_MR, ANNOTATION_SHA, completeAndCheck } from './validate.js';

export interface PreviewPlan {
  /** path → new contents, or null to delete. */
  files: Map<string, string | null>;
  results: PreviewResult[];
  changes: PreviewChange[];
}

/** Paths a batch of preview intents reads: the preview files and their templates. */
export function previewPaths(intents: PreviewIntent[]): string[] {
  return intents.flatMap((i) => (i.type === 'ensure-preview' ? [i.path, i.template] : [i.path]));
}

export function imageRefOf(i: Pick<EnsurePreview, 'repository' | 'tag' | 'digest'>): string {
  return `${i.repository}:${i.tag}${i.digest ? `@${i.digest}` : ''}`;
}

export function templateVars(i: EnsurePreview): TemplateVars {
  return {
    name: i.name,
    namespace: i.name,
    number: String(i.mr.number),
    branch: i.mr.headBranch,
    branchSlug: branchSlug(i.mr.headBranch),
    sha: i.sha,
    shortSha: i.sha.slice(0, 7),
    image: imageRefOf(i),
    repository: i.repository,
    tag: i.tag,
    digest: i.digest ?? '',
    repo: formatRepoRef(i.mr.repo),
    author: i.mr.author,
    title: i.mr.title,
  };
}

/** The file an ensure-preview intent writes, or the reasons it may not be written. */
export function renderPreview(i: EnsurePreview, template: string): { ok: true; text: string; notes: string[] } | { ok: false; problems: string[] } {
  const rendered = renderTemplate(template, templateVars(i));
  if (!rendered.ok) return { ok: false, problems: rendered.errors };
  const check = completeAndCheck(rendered.documents, {
    [ANNOTATION_MR]: `${formatRepoRef(i.mr.repo)}#${i.mr.number}`,
    [ANNOTATION_IMAGE]: i.image,
    [ANNOTATION_SHA]: i.sha,
  });
  if (check.problems.length > 0) return { ok: false, problems: check.problems };
  return { ok: true, text: stringifyDocuments(rendered.documents), notes: check.notes };
}

/**
 * Later intents for the same preview file win (opened then closed within one batch: removed).
 * `current(path)` reads through edits earlier in the same batch.
 */
export function planPreviews(intents: PreviewIntent[], current: (path: string) => string | null | undefined): PreviewPlan {
  const last = new Map<string, PreviewIntent>();
  // A newer head still waiting for its build does not hold back the older head whose build exists.
  const waitingBehind: EnsurePreview[] = [];
  for (const i of intents) {
    const prev = last.get(i.path);
    if (i.type === 'ensure-preview' && i.build !== 'confirmed' && prev?.type === 'ensure-preview' && prev.build === 'confirmed') waitingBehind.push(i);
    else last.set(i.path, i);
  }
  const files = new Map<string, string | null>();
  const results: PreviewResult[] = waitingBehind.map((i) => ({
    image: i.image,
    name: i.name,
    path: i.path,
    repo: formatRepoRef(i.mr.repo),
    number: i.mr.number,
    sha: i.sha,
    state: 'waiting',
    message: `waiting for the build of ${i.sha.slice(0, 7)}`,
    causes: [i.cause],
  }));
  const changes: PreviewChange[] = [];
  for (const i of last.values()) {
    const existing = current(i.path) ?? null;
    const base = { image: i.image, name: i.name, path: i.path, repo: formatRepoRef(i.mr.repo), number: i.mr.number, causes: [i.cause] };
    if (i.type === 'remove-preview') {
      if (existing === null) {
        results.push({ ...base, state: 'absent', message: `no preview ${i.name} to remove` });
        continue;
      }
      files.set(i.path, null);
      results.push({ ...base, state: 'removed', message: `removed ${i.path} (${i.reason})` });
      changes.push({ verb: 'remove', name: i.name, image: i.image, reason: i.reason, causes: [i.cause] });
      continue;
    }
    const withSha = { ...base, sha: i.sha };
    if (i.build !== 'confirmed') {
      results.push({ ...withSha, state: 'waiting', message: `waiting for the build of ${i.sha.slice(0, 7)}` });
      continue;
    }
    if (i.onlyIfExists && existing === null) {
      results.push({ ...withSha, state: 'skipped', message: `no preview ${i.name} yet; it is created on request` });
      continue;
    }
    const template = current(i.template);
    if (template === null || template === undefined) {
      results.push({ ...withSha, state: 'invalid', message: `the template ${i.template} does not exist on the preview branch; nothing was written` });
      continue;
    }
    const out = renderPreview(i, template);
    if (!out.ok) {
      results.push({ ...withSha, state: 'invalid', message: `${i.template}: ${out.problems.join('; ')}; nothing was written` });
      continue;
    }
    const notes = out.notes.length > 0 ? { notes: out.notes } : {};
    if (existing === out.text) {
      results.push({ ...withSha, ...notes, state: 'unchanged', message: `${i.name} already runs ${i.tag}` });
      continue;
    }
    files.set(i.path, out.text);
    const verb = existing === null ? 'add' : 'move';
    results.push({ ...withSha, ...notes, state: verb === 'add' ? 'created' : 'updated', message: `${verb === 'add' ? 'wrote' : 'moved'} ${i.path} to ${i.tag}` });
    changes.push({ verb, name: i.name, image: i.image, imageRef: imageRefOf(i), tag: i.tag, causes: [i.cause] });
  }
  return { files, results, changes };
}

/** Render a template for a sample MR (`baton validate --repo`): its problems, or the notes of a valid one. */
export function checkTemplate(
  route: { image: string; repository: string; source: string; destination: EnsurePreview['destination']; template: string },
  template: string,
): { ok: true; notes: string[] } | { ok: false; problems: string[] } {
  const sha = '3f2c1d0e9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e';
  const sample: EnsurePreview = {
    type: 'ensure-preview',
    destination: route.destination,
    image: route.image,
    repository: route.repository,
    name: `${route.image}-pr-1`,
    path: 'sample.yaml',
    template: route.template,
    mr: { repo: { forge: 'github', path: 'sample/app' }, number: 1, title: 'Sample: "title" # with {braces}', author: 'someone', headSha: sha, headBranch: 'feature/sample', fromFork: false },
    sha,
    tag: sha.slice(0, 7),
    build: 'confirmed',
    onlyIfExists: false,
    cause: { source: 'github', deliveryId: 'validate' },
  };
  const out = renderPreview(sample, template);
  return out.ok ? { ok: true, notes: out.notes } : out;
}
