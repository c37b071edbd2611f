/** Checks for the strangers' strings that reach GitHub URLs and queries: repos, branches, paths, logins. */

import { ForgeError } from '../types.js';

export interface RepoName {
  owner: string;
  name: string;
}

const OWNER = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$/;
const NAME = /^[A-Za-z0-9._-]{1,100}$/;

/** `owner/name` → parts; anything else (extra slashes, `..`, URL syntax) is refused before any request. */
export function parseRepo(repo: string): RepoName {
  const parts = repo.split('/');
  const [owner, name] = parts;
  if (parts.length !== 2 || !owner || !name || !OWNER.test(owner) || !NAME.test(name) || name === '.' || name === '..') {
    throw new ForgeError(`invalid GitHub repository ${JSON.stringify(repo.slice(0, 200))} (expected owner/name)`, 422);
  }
  return { owner, name };
}

/** git check-ref-format rules for a branch name, without running git. */
export function isValidBranch(branch: string): boolean {
  if (branch.length === 0 || branch.length > 255 || branch === '@') return false;
  // Control characters, space and the characters git forbids in ref names.
  for (const ch of branch) {
    const code = ch.charCodeAt(0);
    if (code <= 0x20 || code === 0x7f || '~^:?*[\\'.includes(ch)) return false;
  }
  if (branch.startsWith('-') || branch.startsWith('/') || branch.endsWith('/') || branch.endsWith('.')) return false;
  if (branch.includes('..') || branch.includes('//') || branch.includes('@{')) return false;
  return branch.split('/').every((c) => c.length > 0 && !c.startsWith('.') && !c.endsWith('.lock'));
}

export function assertBranch(branch: string): void {
  if (!isValidBranch(branch)) throw new ForgeError(`invalid branch name ${JSON.stringify(branch.slice(0, 200))}`, 422);
}

/** A repository-relative file path that cannot escape the tree. */
export function isSafePath(p: string): boolean {
  return p.length > 0 && p.length <= 4096 && !p.includes('\n') && !p.includes('\r') && !p.includes('\0') && !p.startsWith('/') && !p.endsWith('/') && p.split('/').every((c) => c !== '' && c !== '.' && c !== '..');
}

/** GitHub logins: letters, digits and single hyphens; Apps act as `<slug>[bot]`. */
export function isValidLogin(login: string): boolean {
  return /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:\[bot\])?$/.test(login);
}

export const isSha = (s: string): boolean => /^[0-9a-f]{40}$/.test(s);
