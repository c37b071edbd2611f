/** The routing table built from a config: which images, environments and files care about a repository. */

import { normalizeRepository } from '../core/image-ref.js';
import type { TargetSpec } from '../core/intent.js';
import type { ImageRoute, RoutingTable } from '../core/route.js';
import type { BatonConfig } from './schema.js';

export function targetSpec(t: string | TargetSpec): TargetSpec {
  return typeof t === 'string' ? { file: t } : t;
}

export class ConfigIndex implements RoutingTable {
  private readonly byRepository = new Map<string, ImageRoute[]>();
  private readonly bySource = new Map<string, ImageRoute[]>();

  /**
   * @param defaultBranch the branch `.baton.yml` was read from; environments without `branch` live there.
   * @param paused environments (`staging`) or one image in one (`staging/web`) whose automation is paused.
   */
  constructor(
    readonly config: BatonConfig,
    readonly defaultBranch: string,
    paused: ReadonlySet<string> = new Set(),
  ) {
    for (const [image, img] of Object.entries(config.images)) {
      const repository = normalizeRepository(img.repository);
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
          const e = config.environments[env];
          if (!e) return [];
          const branch = e.branch ?? defaultBranch;
          return [{ env, destination: { branch, write: e.write, ...(e.write === 'merge-request' && { env }) }, targets: targets.map(targetSpec), paused: e.auto === false || paused.has(env) || paused.has(`${env}/${image}`),
            ...(e.auto === false && { pausedReason: `${env} has auto: false (it changes only by /baton commands)` }) }];
        }),
      };
      this.byRepository.set(repository, [...(this.byRepository.get(repository) ?? []), route]);
      // Forge paths are case-insensitive on GitHub: `github:Acme/Web` and `github:acme/web` are one repo.
      if (img.source) this.bySource.set(img.source.toLowerCase(), [...(this.bySource.get(img.source.toLowerCase()) ?? []), route]);
    }
  }

  imagesByRepository(repository: string): ImageRoute[] {
    return this.byRepository.get(normalizeRepository(repository)) ?? [];
  }

  imagesBySource(source: string): ImageRoute[] {
    return this.bySource.get(source.toLowerCase()) ?? [];
  }
}
