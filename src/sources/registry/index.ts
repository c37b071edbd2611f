/**
 * Registry webhook sources by `:kind` in `POST /webhooks/registry/:kind`.
 *
 * The route awaits `source.verify(delivery, registrySecrets(process.env, kind))` (`gar` verifies a JWT,
 * asynchronously), then `source.parse(JSON.parse(body), delivery)`. `gar` needs its OIDC settings:
 * use `registrySourcesFromEnv(process.env)` rather than the settings-free `registrySources`.
 */

import type { Source } from '../types.js';
import { acr } from './acr.js';
import { distribution } from './distribution.js';
import { dockerhub } from './dockerhub.js';
import { ecr } from './ecr.js';
import { createGarSource } from './gar.js';
import type { GarOptions } from './gar.js';
import { generic } from './generic.js';
import { ghcr } from './ghcr.js';
import { gitlab } from './gitlab.js';
import { harbor } from './harbor.js';
import { quay } from './quay.js';
import { garSettings } from './settings.js';

export const REGISTRY_KINDS = ['distribution', 'dockerhub', 'harbor', 'ghcr', 'gitlab', 'quay', 'acr', 'gar', 'ecr', 'generic'] as const;
export type RegistryKind = (typeof REGISTRY_KINDS)[number];

export interface RegistrySourceOptions {
  /** Pub/Sub OIDC settings for `gar`; without them `gar` refuses every request. */
  gar?: GarOptions;
}

export function createRegistrySources(options: RegistrySourceOptions = {}): Readonly<Record<RegistryKind, Source>> {
  return { distribution, dockerhub, harbor, ghcr, gitlab, quay, acr, gar: createGarSource(options.gar), ecr, generic };
}

/** The sources as the process environment configures them (names in `settings.ts` and docs/registries.md). */
export function registrySourcesFromEnv(env: Readonly<Record<string, string | undefined>>): Readonly<Record<RegistryKind, Source>> {
  const gar = garSettings(env);
  return createRegistrySources(gar ? { gar } : {});
}

/** Without settings: every kind but `gar` works with a token; `gar` refuses until configured. */
export const registrySources: Readonly<Record<string, Source>> = createRegistrySources();

export function isRegistryKind(kind: string): kind is RegistryKind {
  return (REGISTRY_KINDS as readonly string[]).includes(kind);
}

export { contentKey, BurstFilter } from './dedupe.js';
export { parseGitHubPackageEvent } from './ghcr.js';
export { registrySecrets, garSettings } from './settings.js';
