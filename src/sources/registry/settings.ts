/**
 * Settings for registry webhooks, read from the environment the process was given:
 * - `BATON_REGISTRY_TOKEN`: the shared token every registry kind accepts.
 * - `BATON_REGISTRY_TOKEN_<KIND>` (`_DISTRIBUTION`, `_DOCKERHUB`, `_HARBOR`, `_GHCR`, `_QUAY`, `_ACR`, `_ECR`,
 *   `_GITLAB`, `_GENERIC`): a token only that kind accepts. For `ghcr` it is the GitHub webhook secret (HMAC).
 *   Each may hold several comma-separated values, so a token can be rotated without downtime.
 * - `BATON_GAR_AUDIENCE`, `BATON_GAR_SERVICE_ACCOUNT` (comma-separated): the Pub/Sub push subscription's
 *   OIDC audience and service account; `gar` refuses everything until both are set.
 */

import { createRemoteJWKSet } from 'jose';
import type { JWTVerifyGetKey } from 'jose';
import { GOOGLE_JWKS_URL } from './gar.js';
import type { GarOptions } from './gar.js';

/** A comma-separated setting (tokens, accounts) as its non-empty, trimmed items. */
export function list(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** Every secret a registry kind accepts: the shared token plus the kind's own. */
export function registrySecrets(env: Readonly<Record<string, string | undefined>>, kind: string): string[] {
  const own = /^[a-z0-9]+$/.test(kind) ? env[`BATON_REGISTRY_TOKEN_${kind.toUpperCase()}`] : undefined;
  return [...new Set([...list(env['BATON_REGISTRY_TOKEN']), ...list(own)])];
}

/** GAR verification options from the environment; `keys` defaults to Google's published JWKS. */
export function garSettings(env: Readonly<Record<string, string | undefined>>, keys?: JWTVerifyGetKey): GarOptions | undefined {
  const audience = env['BATON_GAR_AUDIENCE']?.trim();
  const serviceAccounts = list(env['BATON_GAR_SERVICE_ACCOUNT']);
  if (!audience || serviceAccounts.length === 0) return undefined;
  return { audience, serviceAccounts, keys: keys ?? createRemoteJWKSet(new URL(GOOGLE_JWKS_URL)) };
}
