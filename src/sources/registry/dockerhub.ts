/**
 * Docker Hub repository webhooks. Docker Hub signs nothing and sets no headers, so the token rides in the
 * URL (`?token=`). The payload has no event id and no digest; a multi-arch push sends several near-identical
 * calls, which the content key (`contentKey`) folds into one bump.
 */

import { z } from 'zod';
import { MalformedPayload } from '../types.js';
import { bodyHash, buildImagePushed, ParseResult, unixToIso, verifyRegistryToken } from './common.js';
import type { Source } from '../types.js';

const Str = z.string().max(2048);

const DockerHubSchema = z.object({
  push_data: z.object({
    pushed_at: z.number().optional(),
    pusher: Str.optional(),
    tag: Str.optional(),
  }),
  repository: z.object({
    repo_name: Str.optional(),
    namespace: Str.optional(),
    name: Str.optional(),
  }),
});

export const dockerhub: Source = {
  id: 'registry/dockerhub',
  verify: (delivery, secrets) => verifyRegistryToken(delivery, secrets, { allowQuery: true }),
  precheck: (head, secrets) => verifyRegistryToken(head, secrets, { allowQuery: true }),
  parse: (body, delivery) => {
    const parsed = DockerHubSchema.safeParse(body);
    if (!parsed.success) throw new MalformedPayload('expected a Docker Hub webhook {push_data, repository}');
    const { push_data: push, repository: repo } = parsed.data;
    const result = new ParseResult();
    const name = repo.repo_name ?? (repo.namespace && repo.name ? `${repo.namespace}/${repo.name}` : undefined);
    if (!push.tag) result.ignore('push without a tag');
    else if (!name) result.ignore('payload names no repository');
    else {
      // Official images have no namespace on Docker Hub ("nginx"); the registry calls them library/nginx.
      const repository = name.includes('/') ? name : `library/${name}`;
      result.add(
        buildImagePushed('registry/dockerhub', {
          deliveryId: `dockerhub:${bodyHash(delivery.rawBody)}`,
          registry: 'docker.io',
          repository,
          tag: push.tag,
          pushedAt: unixToIso(push.pushed_at),
          actor: push.pusher,
        }),
      );
    }
    return result.done();
  },
};
