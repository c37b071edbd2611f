/** The version to roll back to, from Baton's own trailers in the env repo's history. Pure. */

/** `Baton-Image: <repository>:<tag>[@digest]` of `repository`, in the order the messages are given. */
export function trailerVersions(message: string, repository: string): { tag: string; digest?: string }[] {
  const out: { tag: string; digest?: string }[] = [];
  for (const line of message.split('\n')) {
    const m = /^Baton-Image: (.+)$/.exec(line.trim());
    if (!m?.[1] || !m[1].startsWith(`${repository}:`)) continue;
    const ref = m[1].slice(repository.length + 1);
    const at = ref.indexOf('@');
    const tag = at >= 0 ? ref.slice(0, at) : ref;
    if (tag !== '') out.push(at >= 0 ? { tag, digest: ref.slice(at + 1) } : { tag });
  }
  return out;
}

/**
 * Commits newest first. Rollback commits are skipped, so rolling back twice walks further back
 * instead of undoing the first rollback. The answer is the first version older than `current`.
 */
export function previousVersion(commits: { message: string }[], repository: string, current: string | undefined): { tag: string; digest?: string } | undefined {
  const versions = commits.filter((c) => !/^Baton-Rollback: /m.test(c.message)).flatMap((c) => trailerVersions(c.message, repository));
  const at = current === undefined ? -1 : versions.findIndex((v) => v.tag === current);
  return versions.slice(at + 1).find((v) => v.tag !== current);
}

/** The `Baton-Source` of the newest commit that set `repository` to `tag`: the app commit a version was built from. */
export function sourceOfVersion(commits: { message: string }[], repository: string, tag: string): string | undefined {
  for (const c of commits) {
    if (!trailerVersions(c.message, repository).some((v) => v.tag === tag)) continue;
    const m = /^Baton-Source: (.+)$/m.exec(c.message);
    if (m?.[1]) return m[1].trim();
  }
  return undefined;
}
