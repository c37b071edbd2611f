/**
 * Checks on a rendered preview before anything is written: the Argo CD schema, the runtime rules
 * the CRD schema misses, Flux basics, and no secrets in Git. Adds the Argo CD resources finalizer
 * (so deleting the file tears the environment down) and Baton's own annotations (for the sweep).
 */

import { Application } from '@kubernetes-models/argo-cd/argoproj.io/v1alpha1/Application';
import { isMap, isSeq } from 'yaml';
import type { Document } from 'yaml';
import { isDnsLabel } from './name.js';

export const ARGO_FINALIZER = 'resources-finalizer.argocd.argoproj.io';
/** `github:acme/web#42`: which merge request a preview belongs to, read back by the sweep. */
export const ANNOTATION_MR = 'baton.dev/merge-request';
export const ANNOTATION_IMAGE = 'baton.dev/image';
export const ANNOTATION_SHA = 'baton.dev/sha';

export interface CheckResult {
  problems: string[];
  notes: string[];
}

/** Values that look like credentials: private keys, and the token formats of the common forges and clouds. */
const SECRET_LOOKING: { what: string; re: RegExp }[] = [
  { what: 'a private key', re: /-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----/ },
  { what: 'a GitHub token', re: /\b(gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{50,})\b/ },
  { what: 'a GitLab token', re: /\bglpat-[A-Za-z0-9_-]{20,}\b/ },
  { what: 'a Slack token', re: /\bxox[abposr]-[A-Za-z0-9-]{10,}\b/ },
  { what: 'an AWS access key', re: /\b(AKIA|ASIA)[0-9A-Z]{16}\b/ },
  { what: 'a Google API key', re: /\bAIza[0-9A-Za-z_-]{35}\b/ },
  { what: 'a JSON web token', re: /\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/ },
];

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function* strings(value: unknown, path: string): Generator<{ path: string; text: string }> {
  if (typeof value === 'string') yield { path, text: value };
  else if (Array.isArray(value)) for (const [i, v] of value.entries()) yield* strings(v, `${path}[${i}]`);
  else if (isObject(value)) for (const [k, v] of Object.entries(value)) yield* strings(v, path ? `${path}.${k}` : k);
}

/** A plaintext Secret or a credential-looking value anywhere: the reasons, empty when clean. */
export function findSecrets(objects: unknown[]): string[] {
  const found: string[] = [];
  for (const [i, obj] of objects.entries()) {
    if (!isObject(obj)) continue;
    if (obj['kind'] === 'Secret' && (obj['data'] !== undefined || obj['stringData'] !== undefined)) {
      found.push(`document ${i + 1} is a plaintext Secret (kind: Secret with data/stringData); use a SealedSecret, SOPS or an external secret store`);
    }
    for (const s of strings(obj, '')) {
      const hit = SECRET_LOOKING.find((p) => p.re.test(s.text));
      if (hit) found.push(`document ${i + 1}, ${s.path}: looks like ${hit.what}; Baton never writes credentials to Git`);
    }
  }
  return found;
}

/** What the Argo CD CRD schema accepts but the controller refuses at runtime. */
export function applicationRuntimeProblems(app: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const meta = isObject(app['metadata']) ? app['metadata'] : {};
  const name = meta['name'];
  if (typeof name !== 'string' || !isDnsLabel(name)) problems.push(`metadata.name ${JSON.stringify(name)} must be a DNS-1123 label of at most 63 characters starting with a letter`);
  const spec = isObject(app['spec']) ? app['spec'] : {};
  const sources: unknown[] = Array.isArray(spec['sources']) ? spec['sources'] : spec['source'] !== undefined ? [spec['source']] : [];
  if (sources.length === 0) problems.push('spec.source (or spec.sources) is missing');
  for (const [i, src] of sources.entries()) {
    const where = Array.isArray(spec['sources']) ? `spec.sources[${i}]` : 'spec.source';
    if (!isObject(src)) continue;
    const isChart = src['chart'] !== undefined;
    const isRef = src['ref'] !== undefined && Array.isArray(spec['sources']);
    if (!isChart && src['path'] === undefined && !isRef) problems.push(`${where} needs path (a Git directory) or chart (a Helm chart)`);
    if (isChart && (typeof src['targetRevision'] !== 'string' || src['targetRevision'] === '')) problems.push(`${where} is a chart and needs targetRevision (the chart version)`);
  }
  const dest = isObject(spec['destination']) ? spec['destination'] : undefined;
  if (!dest) problems.push('spec.destination is missing');
  else if ((dest['server'] === undefined) === (dest['name'] === undefined)) problems.push('spec.destination needs exactly one of server and name');
  return problems;
}

function validateApplication(app: Record<string, unknown>): string[] {
  const problems: string[] = [];
  try {
    // The model's constructor takes the CRD's own type; the object came from YAML, so the schema decides.
    new Application(app as ConstructorParameters<typeof Application>[0]).validate();
  } catch (e) {
    problems.push(`not a valid Argo CD Application: ${(e as Error).message}`);
  }
  return [...problems, ...applicationRuntimeProblems(app)];
}

function validateFlux(obj: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const meta = isObject(obj['metadata']) ? obj['metadata'] : {};
  const name = meta['name'];
  if (typeof name !== 'string' || !isDnsLabel(name)) problems.push(`metadata.name ${JSON.stringify(name)} must be a DNS-1123 label of at most 63 characters starting with a letter`);
  const spec = isObject(obj['spec']) ? obj['spec'] : undefined;
  if (!spec) return [...problems, 'spec is missing'];
  if (typeof spec['interval'] !== 'string') problems.push('spec.interval is missing (e.g. 5m)');
  if (obj['kind'] === 'Kustomization' && !isObject(spec['sourceRef'])) problems.push('spec.sourceRef is missing');
  if (obj['kind'] === 'HelmRelease' && !isObject(spec['chart']) && !isObject(spec['chartRef'])) problems.push('spec.chart or spec.chartRef is missing');
  return problems;
}

const isArgoApplication = (o: Record<string, unknown>): boolean => o['kind'] === 'Application' && typeof o['apiVersion'] === 'string' && o['apiVersion'].startsWith('argoproj.io/');
const isFlux = (o: Record<string, unknown>): boolean =>
  typeof o['apiVersion'] === 'string' &&
  ((o['kind'] === 'Kustomization' && o['apiVersion'].startsWith('kustomize.toolkit.fluxcd.io/')) || (o['kind'] === 'HelmRelease' && o['apiVersion'].startsWith('helm.toolkit.fluxcd.io/')));

/**
 * Complete and check rendered documents in place: add the finalizer and annotations, then validate.
 * `problems` non-empty means nothing may be written.
 */
export function completeAndCheck(documents: Document[], annotations: Record<string, string>): CheckResult {
  const problems: string[] = [];
  const notes: string[] = [];
  let deployables = 0;
  for (const doc of documents) {
    if (!isMap(doc.contents)) {
      problems.push('every document of a preview template must be a mapping (a Kubernetes object)');
      continue;
    }
    const obj: unknown = doc.toJS();
    if (!isObject(obj)) continue;
    if (isArgoApplication(obj)) {
      deployables++;
      const finalizers = doc.getIn(['metadata', 'finalizers']);
      if (finalizers === undefined || finalizers === null) {
        doc.setIn(['metadata', 'finalizers'], doc.createNode([ARGO_FINALIZER]));
        notes.push(`added the finalizer ${ARGO_FINALIZER}, so deleting the preview also deletes its resources`);
      } else if (isSeq(finalizers) && !finalizers.items.some((f) => String((f as { value?: unknown }).value ?? f) === ARGO_FINALIZER)) {
        finalizers.add(doc.createNode(ARGO_FINALIZER));
        notes.push(`added the finalizer ${ARGO_FINALIZER}, so deleting the preview also deletes its resources`);
      } else if (!isSeq(finalizers)) {
        problems.push('metadata.finalizers must be a list');
      }
    } else if (isFlux(obj)) {
      deployables++;
    }
    if (obj['kind'] !== undefined && isMap(doc.get('metadata'))) {
      for (const [k, v] of Object.entries(annotations)) doc.setIn(['metadata', 'annotations', k], v);
    }
  }
  if (problems.length > 0) return { problems, notes };
  if (deployables === 0) problems.push('the template holds no Argo CD Application, Flux Kustomization or HelmRelease');
  const objects = documents.map((d) => d.toJS() as Json);
  for (const obj of objects) {
    if (!isObject(obj)) continue;
    if (isArgoApplication(obj)) problems.push(...validateApplication(obj));
    else if (isFlux(obj)) problems.push(...validateFlux(obj));
  }
  problems.push(...findSecrets(objects));
  return { problems, notes };
}
