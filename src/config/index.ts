/** The routing table built from a config: which images, environments and files care about a repository. */

import { normalizeHost, normalizeRepository, splitRepository } from '../core/image-ref.js';
import type { TargetSpec } from '../core/intent.js';
import type { ImageRoute, RoutingTable } from '../core/route.js';
import type { PreviewRoute } from '../core/preview/route.js';
import type { BatonConfig } from './schema.js';

export function targetSpec(t: string | TargetSpec): TargetSpec {
  return typeof t === 'string' ? { file: t } : t;
}

export class ConfigIndex implements RoutingTable {
  private readonly byRepository = new Map<string, ImageRoute[]>();
  private readonly bySource = new Map<string, ImageRoute[]>();
  private readonly previewsBySourceMap = new Map<string, PreviewRoute[]>();
  /** Registry host → the host it stands for (`registries.aliases`). */
  private readonly aliases = new Map<string, string>();
  /** Repository path → the configured repositories with that path (for the near-miss note). */
  private readonly byPath = new Map<string, Set<string>>();

  /**
   * @param defaultBranch the branch `.baton.yml` was read from; environments without `branch` live there.
   * @param paused environments (`staging`) or one image in one (`staging/web`) whose automation is paused.
   */
  constructor(
    readonly config: BatonConfig,
    readonly defaultBranch: string,
    paused: ReadonlySet<string> = new Set(),
  ) {
    for (const [from, to] of Object.entries(config.registries?.aliases ?? {})) this.aliases.set(normalizeHost(from), normalizeHost(to));
    for (const [image, img] of Object.entries(config.images)) {
      const repository = normalizeRepository(img.repository);
      const { path } = splitRepository(repository);
      this.byPath.set(path, (this.byPath.get(path) ?? new Set()).add(repository));
      const route: ImageRoute = {
        image,
        repository,
        policy: {
          policy: img.policy,
          ...(img.range !== undefined && { range: img.range }),
          ...(img.pattern !== undefined && { pattern: img.pattern }),
          ...(img.extract !== undefined && { extract: img.extract }),
          ...(img.allow !== undefined && { allow: img.allow }),
          ...(img.ignore !== undefined && { ignore: img.ignore }),
        },
        digestMode: img.digest,
        envs: Object.entries(img.targets).flatMap(([env, targets]) => {
          const e = Object.hasOwn(config.environments, env) ? config.environments[env] : undefined;
          if (!e) return [];
          const branch = e.branch ?? defaultBranch;
          return [{ env, destination: { branch, write: e.write, ...(e.write === 'merge-request' && { env }) }, targets: targets.map(targetSpec), paused: e.auto === false || paused.has(env) || paused.has(`${env}/${image}`),
            ...(e.auto === false && { pausedReason: `${env} has auto: false (it changes only by /baton commands)` }) }];
        }),
      };
      const key = this.canonical(repository);
      this.byRepository.set(key, [...(this.byRepository.get(key) ?? []), route]);
      // Forge paths are case-insensitive on GitHub: `github:Acme/Web` and `github:acme/web` are one repo.
      if (img.source) this.bySource.set(img.source.toLowerCase(), [...(this.bySource.get(img.source.toLowerCase()) ?? []), route]);
      const preview = config.previews[image];
      if (img.source && preview) {
        const key = img.source.toLowerCase();
        const p: PreviewRoute = {
          image,
          repository,
          source: img.source,
          // Previews always commit to their branch: a preview waiting for approval would defeat its purpose.
          destination: { branch: preview.branch, write: 'commit' },
          path: preview.path,
          template: preview.template,
          trigger: preview.trigger,
          label: preview.label,
          forks: preview.forks,
          ttlMs: durationMs(preview.ttl),
          tag: preview.tag,
        };
        this.previewsBySourceMap.set(key, [...(this.previewsBySourceMap.get(key) ?? []), p]);
      }
    }
  }

  previewsBySource(source: string): PreviewRoute[] {
    return this.previewsBySourceMap.get(source.toLowerCase()) ?? [];
  }

  /** Every preview entry, for the sweep. */
  allPreviews(): PreviewRoute[] {
    return [...this.previewsBySourceMap.values()].flat();
  }

  /** Every image with targets in `env`, as the rolling MR of that environment describes them. */
  scopeOf(env: string): { image: string; repository: string; policy: ImageRoute['policy']; digestMode: ImageRoute['digestMode']; targets: TargetSpec[] }[] {
    return [...this.byRepository.values()].flat().flatMap((r) => r.envs.filter((e) => e.env === env).map((e) => ({ image: r.image, repository: r.repository, policy: r.policy, digestMode: r.digestMode, targets: e.targets })));
  }

  /** The repository with its host replaced by the one it is an alias of (one map lookup). */
  private canonical(normalized: string): string {
    const { host, path } = splitRepository(normalized);
    const to = this.aliases.get(host);
    return to === undefined ? normalized : `${to}/${path}`;
  }

  imagesByRepository(repository: string): ImageRoute[] {
    return this.byRepository.get(this.canonical(normalizeRepository(repository))) ?? [];
  }

  nearMisses(repository: string): string[] {
    const normalized = normalizeRepository(repository);
    return [...(this.byPath.get(splitRepository(normalized).path) ?? [])].filter((r) => r !== normalized).slice(0, 5);
  }

  imagesBySource(source: string): ImageRoute[] {
    return this.bySource.get(source.toLowerCase()) ?? [];
  }
}

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `30m`, `12h`, `7d` → milliseconds (the schema has checked the form). */
export function durationMs(text: string): number {
  const m = /^(\d+)(s|m|h|d|w)$/.exec(text);
  return m?.[1] && m[2] ? Number(m[1]) * (UNIT_MS[m[2]] ?? 0) : 0;
}
