/** Argo CD and Flux feedback routes: `/webhooks/argocd` (bearer token), `/webhooks/flux` (HMAC or bearer). */

import type { Source } from '../types.js';
import { argocdSource } from './argocd.js';
import { parseSecretList } from './common.js';
import { fluxSource } from './flux.js';

export { argocdSource } from './argocd.js';
export { fluxSource } from './flux.js';
export { commitOfRevision, parseSecretList } from './common.js';

/** `BATON_ARGOCD_TOKEN` and `BATON_FLUX_SECRET`, each a comma list for rotation; unset refuses everything. */
export function cdWebhookRoutes(env: Readonly<Record<string, string | undefined>>): Record<string, { source: Source; secrets: () => string[] }> {
  const argo = parseSecretList(env['BATON_ARGOCD_TOKEN']);
  const flux = parseSecretList(env['BATON_FLUX_SECRET']);
  return { argocd: { source: argocdSource, secrets: () => argo }, flux: { source: fluxSource, secrets: () => flux } };
}
