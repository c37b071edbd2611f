/**
 * plan(intents, files) → Changeset. Pure: given the files at one head, decide the single commit
 * that carries a batch of intents. Planning against files that already hold the result is empty.
 */

import type { Bump, Changeset, FileChange, FileProblem, Skip } from './changeset.js';
import { commitMessage, previewCommitMessage } from './commit-message.js';
import { editImage, readImageVersion } from './edit-image.js';
import type { ImageVersion } from './edit-image.js';
import { isPreviewIntent, isSetImage } from './intent.js';
import type { Intent, SetImage } from './intent.js';
import { planPreviews, previewPaths } from './preview/plan.js';
import { compareTags, isOrdered } from './policy.js';
import { exceedsBytes, utf8Length } from './size.js';
import type { ImageSelector } from './targets/types.js';

export interface PlanOptions {
  /** Add `[skip ci]` to the subject (when the env repo is also an app repo). */
  skipCi?: boolean;
  /** Target files larger than this (UTF-8 bytes) are reported, not parsed; the setting is BATON_MAX_TARGET_BYTES. */
  maxFileBytes?: number;
  /** Prove every edit by re-parsing the whole edited file instead of on its splices (the benchmark's "before"). */
  reparse?: boolean;
}

/** Far above any real kustomization or values file; editing YAML costs many times its size. */
export const DEFAULT_MAX_TARGET_BYTES = 4 * 1024 * 1024;

/** All paths the intents may touch, so the executor can read them in one go. */
export function pathsOf(intents: Intent[]): string[] {
  return [...new Set([...intents.filter(isSetImage).flatMap((i) => i.targets.map((t) => t.file)), ...previewPaths(intents.filter(isPreviewIntent))])];
}

/** Pick, per environment and image, the intent that wins a batch; the rest are superseded. */
export function winners(intents: SetImage[]): { win: SetImage[]; superseded: Skip[] } {
  const groups = new Map<string, SetImage[]>();
  for (const i of intents) {
    const k = `${i.env}\u0000${i.image}`;
    const group = groups.get(k);
    if (group) group.push(i);
    else groups.set(k, [i]);
  }
  const win: SetImage[] = [];
  const superseded: Skip[] = [];
  for (const group of groups.values()) {
    const exact = group.filter((i) => i.mode === 'exact');
    let best: SetImage | undefined;
    if (exact.length > 0) best = exact[exact.length - 1];
    else {
      for (const i of group) {
        // Later intents win ties, so a re-pushed tag (new digest) or an unordered policy takes the newest
        // event — by when Baton accepted it where known, since a retried batch may carry an older one last.
        if (!best) best = i;
        else if (isOrdered(i.policy)) {
          if (compareTags(i.policy, i.tag, best.tag) >= 0) best = i;
        } else if ((i.cause.acceptedAt ?? Infinity) >= (best.cause.acceptedAt ?? -Infinity)) best = i;
      }
    }
    if (!best) continue;
    win.push(best);
    const chosen = best;
    for (const i of group) {
      if (i === chosen) continue;
      superseded.push({ env: i.env, image: i.image, tag: i.tag, reason: `superseded by ${chosen.tag} in the same batch`, code: 'superseded', causes: [i.cause] });
    }
  }
  return { win, superseded };
}

function selectorOf(i: SetImage, key?: string, digestKey?: string): ImageSelector {
  return { image: i.image, repository: i.repository, ...(key && { key }), ...(digestKey && { digestKey }) };
}

function sameVersion(v: ImageVersion, i: SetImage): boolean {
  return v.tag === i.tag && (i.digestMode === 'ignore' || i.digest === undefined || v.digest === i.digest);
}

export function plan(all: Intent[], files: Record<string, string | null>, options: PlanOptions = {}): Changeset {
  const intents = all.filter(isSetImage);
  const { win, superseded } = winners(intents);
  const working = new Map<string, string>();
  const skipped: Skip[] = [...superseded];
  const problems: FileProblem[] = [];
  const bumps: Bump[] = [];

  for (const intent of win) {
    const touched: string[] = [];
    let from: ImageVersion | undefined;
    let refusedDowngrade: string | undefined;
    for (const target of intent.targets) {
      const text = working.get(target.file) ?? (Object.hasOwn(files, target.file) ? files[target.file] : undefined);
      if (text === null || text === undefined) {
        problems.push({ path: target.file, message: `target file ${target.file} does not exist` });
        continue;
      }
      const maxBytes = options.maxFileBytes ?? DEFAULT_MAX_TARGET_BYTES;
      if (exceedsBytes(text, maxBytes)) {
        if (!problems.some((p) => p.path === target.file)) {
          problems.push({ path: target.file, message: `${target.file} is ${utf8Length(text)} bytes, over the ${maxBytes}-byte limit for target files (BATON_MAX_TARGET_BYTES); it was not read` });
        }
        continue;
      }
      const want = selectorOf(intent, target.key, target.digestKey);
      // editImage reports the version it found, so the file is parsed once for both questions;
      // only a refused edit (which reports none) needs a separate read.
      const out = editImage(text, want, { tag: intent.tag, digestMode: intent.digestMode, ...(intent.digest && { digest: intent.digest }) }, { reparse: options.reparse === true });
      const current = out.status === 'changed' || out.status === 'unchanged' ? out.from : out.status === 'refused' ? readImageVersion(text, want) : undefined;
      from ??= current;
      if (intent.mode === 'upgrade' && current?.tag && isOrdered(intent.policy) && compareTags(intent.policy, intent.tag, current.tag) < 0) {
        refusedDowngrade = current.tag;
        continue;
      }
      if (current && sameVersion(current, intent)) continue;
      switch (out.status) {
        case 'changed':
          working.set(target.file, out.text);
          touched.push(target.file);
          break;
        case 'unchanged':
          break;
        case 'not-found':
          problems.push({ path: target.file, message: `no reference to ${intent.repository} found in ${target.file}` });
          break;
        case 'refused':
          problems.push({ path: target.file, message: `${target.file} was not written: ${out.message}` });
          break;
      }
    }
    if (touched.length > 0) {
      bumps.push({
        env: intent.env,
        image: intent.image,
        repository: intent.repository,
        ...(from?.tag !== undefined && { from: from.tag }),
        to: intent.tag,
        ...(intent.digestMode === 'pin' && intent.digest && { digest: intent.digest }),
        files: touched,
        causes: [intent.cause],
      });
    } else if (refusedDowngrade !== undefined) {
      skipped.push({ env: intent.env, image: intent.image, tag: intent.tag, reason: `${intent.env} already runs ${refusedDowngrade}, newer than ${intent.tag}`, code: 'downgrade', causes: [intent.cause] });
    } else if (!problems.some((p) => intent.targets.some((t) => t.file === p.path))) {
      skipped.push({ env: intent.env, image: intent.image, tag: intent.tag, reason: `${intent.env} already runs ${intent.tag}`, code: 'current', causes: [intent.cause] });
    }
  }

  // Previews after bumps: a template or preview file on a bumped branch is read as the bumps left it.
  const previewIntents = all.filter(isPreviewIntent);
  const previews = previewIntents.length > 0 ? planPreviews(previewIntents, (path) => working.get(path) ?? files[path]) : undefined;
  const deleted = new Set<string>();
  for (const [path, contents] of previews?.files ?? []) {
    if (contents === null) {
      working.delete(path);
      if (files[path] !== null && files[path] !== undefined) deleted.add(path);
    } else working.set(path, contents);
  }
  const changes: FileChange[] = [
    ...[...working.entries()].filter(([path, text]) => !Object.hasOwn(files, path) || files[path] !== text).map(([path, contents]): FileChange => ({ type: 'write', path, contents })),
    ...[...deleted].map((path): FileChange => ({ type: 'delete', path })),
  ];
  const message = changes.length === 0 ? '' : previews && previews.changes.length > 0 ? previewCommitMessage(previews.changes, bumps, options) : commitMessage(bumps, options);
  return { changes, bumps, skipped, problems, message, ...(previews && { previews: previews.results }) };
}
