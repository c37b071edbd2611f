/**
 * Self-managed GitLab's container registry notifications. GitLab's registry is a fork of the CNCF
 * distribution registry and posts the same envelope to `notifications.endpoints` in its config, with the
 * `Authorization` header that config names.
 */

import { parseDistributionEnvelope } from './distribution.js';
import { verifyRegistryToken } from './common.js';
import type { Source } from '../types.js';

export const gitlab: Source = {
  id: 'registry/gitlab',
  verify: (delivery, secrets) => verifyRegistryToken(delivery, secrets),
  precheck: (head, secrets) => verifyRegistryToken(head, secrets),
  parse: (body) => parseDistributionEnvelope(body, 'registry/gitlab'),
};
