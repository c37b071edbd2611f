/** Tag policies: which tags an image accepts, and which of two accepted tags is newer. */

import semver from 'semver';

export type PolicyKind = 'semver' | 'sha' | 'regex' | 'numerical' | 'alphabetical';

export interface TagPolicy {
  policy: PolicyKind;
  range?: string;
  pattern?: string;
  extract?: string;
  allow?: string[];
  ignore?: string[];
}

export type Verdict = { ok: true } | { ok: false; reason: string };

const SHA_RE = /^[0-9a-f]{7,40}$/;

function compile(pattern: string): RegExp {
  return new RegExp(pattern);
}

/** The value a regex/numerical/alphabetical policy compares: `extract` with `$name`/`$1` filled from the match. */
export function extractValue(policy: TagPolicy, tag: string): string | undefined {
  if (!policy.pattern) return tag;
  const m = compile(policy.pattern).exec(tag);
  if (!m) return undefined;
  if (!policy.extract) return m[0];
  return policy.extract.replace(/\$(?:<(\w+)>|(\w+))/g, (_all, braced: string | undefined, bare: string) => {
    const name = braced ?? bare;
    if (/^\d+$/.test(name)) return m[Number(name)] ?? '';
    return m.groups?.[name] ?? '';
  });
}

function semverOf(tag: string): semver.SemVer | null {
  return semver.parse(tag, { loose: true });
}

export function accepts(policy: TagPolicy, tag: string): Verdict {
  if (policy.ignore?.includes(tag)) return { ok: false, reason: `tag ${tag} is on the ignore list` };
  if (policy.allow && policy.allow.length > 0 && !policy.allow.includes(tag)) {
    return { ok: false, reason: `tag ${tag} is not on the allow list` };
  }
  switch (policy.policy) {
    case 'semver': {
      const v = semverOf(tag);
      if (!v) return { ok: false, reason: `tag ${tag} is not a semantic version` };
      if (policy.range && !semver.satisfies(v, policy.range, { loose: true })) {
        return { ok: false, reason: `tag ${tag} is outside the range ${policy.range}` };
      }
      if (!policy.range && v.prerelease.length > 0) {
        return { ok: false, reason: `tag ${tag} is a prerelease and no range asks for prereleases` };
      }
      return { ok: true };
    }
    case 'sha': {
      const value = policy.pattern ? extractValue(policy, tag) : tag;
      if (value === undefined) return { ok: false, reason: `tag ${tag} does not match ${policy.pattern}` };
      if (!policy.pattern && !SHA_RE.test(tag)) return { ok: false, reason: `tag ${tag} is not a commit sha` };
      return { ok: true };
    }
    case 'regex':
    case 'numerical':
    case 'alphabetical': {
      const value = extractValue(policy, tag);
      if (value === undefined) return { ok: false, reason: `tag ${tag} does not match ${policy.pattern ?? ''}` };
      if (policy.policy === 'numerical' && !Number.isFinite(Number(value))) {
        return { ok: false, reason: `tag ${tag} gives ${value}, which is not a number` };
      }
      return { ok: true };
    }
  }
}

/**
 * Order two accepted tags: >0 when `a` is newer. Policies without an order (`sha`, plain `regex`)
 * return 0, meaning "the later event wins".
 */
export function compareTags(policy: TagPolicy, a: string, b: string): number {
  switch (policy.policy) {
    case 'semver': {
      const va = semverOf(a);
      const vb = semverOf(b);
      if (!va || !vb) return va ? 1 : vb ? -1 : 0;
      return semver.compare(va, vb);
    }
    case 'numerical': {
      const na = Number(extractValue(policy, a));
      const nb = Number(extractValue(policy, b));
      if (Number.isNaN(na) || Number.isNaN(nb)) return Number.isNaN(na) ? (Number.isNaN(nb) ? 0 : -1) : 1;
      return Math.sign(na - nb);
    }
    case 'alphabetical': {
      const ea = extractValue(policy, a) ?? '';
      const eb = extractValue(policy, b) ?? '';
      return ea < eb ? -1 : ea > eb ? 1 : 0;
    }
    case 'sha':
    case 'regex':
      return 0;
  }
}

/** Whether the policy orders tags, so that "never downgrade" can be enforced. */
export function isOrdered(policy: TagPolicy): boolean {
  return policy.policy === 'semver' || policy.policy === 'numerical' || policy.policy === 'alphabetical';
}
