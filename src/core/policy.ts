/** Tag policies: which tags an image accepts, and which of two accepted tags is newer. */

import { RE2JS } from 're2js';
import semver from 'semver';
import type { SkipReason } from './changeset.js';

export type PolicyKind = 'semver' | 'sha' | 'regex' | 'numerical' | 'alphabetical';

export interface TagPolicy {
  policy: PolicyKind;
  range?: string;
  pattern?: string;
  extract?: string;
  allow?: string[];
  ignore?: string[];
}

export type Verdict = { ok: true } | { ok: false; reason: string; code: SkipReason };

const SHA_RE = /^[0-9a-f]{7,40}$/;

/** A user pattern compiled for linear-time matching. */
export interface TagPattern {
  /** The first match in `text`: the whole match, numbered groups and named groups; undefined for none. */
  exec(text: string): { match: string; group(nameOrIndex: string | number): string | undefined } | undefined;
}

/** Longest pattern `.baton.yml` may hold: a tag is at most 128 characters, a pattern needs no more than a few hundred. */
export const PATTERN_MAX = 1024;

const compiled = new Map<string, TagPattern>();
const COMPILED_MAX = 512;

/**
 * Patterns come from `.baton.yml`, written by anyone who can commit to the env repo, and are matched
 * against tags anyone who can push an image chooses. They run on RE2 (re2js), whose matching time is
 * linear in the tag whatever the pattern, so no pattern can freeze Baton. RE2 is also the syntax of
 * Flux's ImagePolicy: `(?P<name>…)` and `(?<name>…)` groups both work; backreferences and lookaround
 * do not exist there and are refused. Throws on a pattern RE2 does not accept.
 */
export function compilePattern(pattern: string): TagPattern {
  const hit = compiled.get(pattern);
  if (hit) return hit;
  if (pattern.length > PATTERN_MAX) throw new Error(`the pattern is longer than ${PATTERN_MAX} characters`);
  const re = RE2JS.compile(pattern);
  const names = re.namedGroups();
  const count = re.groupCount();
  const out: TagPattern = {
    exec(text) {
      const m = re.matcher(text);
      if (!m.find()) return undefined;
      return {
        match: m.group(0) ?? '',
        group(key) {
          const index = typeof key === 'number' ? key : Object.hasOwn(names, key) ? names[key] : undefined;
          if (index === undefined || index > count) return undefined;
          return m.group(index) ?? undefined;
        },
      };
    },
  };
  // A bounded memo: the same few patterns are matched against every tag of every event.
  if (compiled.size >= COMPILED_MAX) compiled.clear();
  compiled.set(pattern, out);
  return out;
}

/** A number as numerical policies accept it: digits and an optional fraction (a tag cannot carry `+`, and `-` is a separator). */
const NUMBER_RE = /^\d+(?:\.\d+)?$/;

/** Compare decimal strings exactly: Unix-nanosecond timestamps and long build numbers exceed 2^53. */
function compareNumbers(a: string, b: string): number {
  const [ai = '0', af = ''] = a.split('.');
  const [bi = '0', bf = ''] = b.split('.');
  const byInt = BigInt(ai) - BigInt(bi);
  if (byInt !== 0n) return byInt > 0n ? 1 : -1;
  const width = Math.max(af.length, bf.length);
  const fa = BigInt((af || '0').padEnd(width, '0'));
  const fb = BigInt((bf || '0').padEnd(width, '0'));
  return fa === fb ? 0 : fa > fb ? 1 : -1;
}

/** The value a regex/numerical/alphabetical policy compares: `extract` with `$name`/`$1` filled from the match. */
export function extractValue(policy: TagPolicy, tag: string): string | undefined {
  if (!policy.pattern) return tag;
  const m = compilePattern(policy.pattern).exec(tag);
  if (!m) return undefined;
  if (!policy.extract) return m.match;
  // `$ts`, `${ts}` (Flux, Go's Expand) and `$<ts>`; `$1` for numbered groups.
  return policy.extract.replace(/\$(?:<(\w+)>|\{(\w+)\}|(\w+))/g, (_all, angled: string | undefined, braced: string | undefined, bare: string | undefined) => {
    const name = angled ?? braced ?? bare ?? '';
    return (/^\d+$/.test(name) ? m.group(Number(name)) : m.group(name)) ?? '';
  });
}

function semverOf(tag: string): semver.SemVer | null {
  return semver.parse(tag, { loose: true });
}

export function accepts(policy: TagPolicy, tag: string): Verdict {
  if (policy.ignore?.includes(tag)) return { ok: false, reason: `tag ${tag} is on the ignore list`, code: 'ignored-tag' };
  if (policy.allow && policy.allow.length > 0 && !policy.allow.includes(tag)) {
    return { ok: false, reason: `tag ${tag} is not on the allow list`, code: 'not-allowed' };
  }
  switch (policy.policy) {
    case 'semver': {
      const v = semverOf(tag);
      if (!v) return { ok: false, reason: `tag ${tag} is not a semantic version`, code: 'not-matching' };
      // npm semantics: a prerelease passes only a range that names a prerelease of the same x.y.z.
      if (policy.range && !semver.satisfies(v, policy.range, { loose: true })) {
        const why = v.prerelease.length > 0 ? 'is a prerelease the range does not ask for' : 'is outside the range';
        return { ok: false, reason: `tag ${tag} ${why} ${policy.range}`, code: 'out-of-range' };
      }
      if (!policy.range && v.prerelease.length > 0) {
        return { ok: false, reason: `tag ${tag} is a prerelease and no range asks for prereleases`, code: 'out-of-range' };
      }
      return { ok: true };
    }
    case 'sha': {
      const value = policy.pattern ? extractValue(policy, tag) : tag;
      if (value === undefined) return { ok: false, reason: `tag ${tag} does not match ${policy.pattern}`, code: 'not-matching' };
      if (!policy.pattern && !SHA_RE.test(tag)) return { ok: false, reason: `tag ${tag} is not a commit sha`, code: 'not-matching' };
      return { ok: true };
    }
    case 'regex':
    case 'numerical':
    case 'alphabetical': {
      const value = extractValue(policy, tag);
      if (value === undefined) return { ok: false, reason: `tag ${tag} does not match ${policy.pattern ?? ''}`, code: 'not-matching' };
      if (policy.policy === 'numerical' && !NUMBER_RE.test(value)) {
        return { ok: false, reason: `tag ${tag} gives ${value}, which is not a number`, code: 'not-matching' };
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
      const ea = extractValue(policy, a);
      const eb = extractValue(policy, b);
      const okA = ea !== undefined && NUMBER_RE.test(ea);
      const okB = eb !== undefined && NUMBER_RE.test(eb);
      // A tag the policy cannot read sorts below every tag it can, so it never blocks an upgrade.
      if (!okA || !okB) return okA ? 1 : okB ? -1 : 0;
      return compareNumbers(ea, eb);
    }
    case 'alphabetical': {
      // Plain code-unit order, like Flux's sort.Strings; locale collation would differ between machines.
      const ea = extractValue(policy, a);
      const eb = extractValue(policy, b);
      if (ea === undefined || eb === undefined) return ea !== undefined ? 1 : eb !== undefined ? -1 : 0;
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
