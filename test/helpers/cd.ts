/**
 * Argo CD and Flux as the docs configure them: the YAML a user pastes from docs/reporting.md is parsed,
 * and these helpers send exactly what Argo CD's webhook service and Flux's generic-hmac provider would.
 */

import { createHmac, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';

type Json = Record<string, unknown>;

const DOC = fileURLToPath(new URL('../../docs/reporting.md', import.meta.url));

/** Every ```yaml block of docs/reporting.md, parsed (a block may hold several documents). */
export function docsYaml(): Json[][] {
  const text = readFileSync(DOC, 'utf8');
  return [...text.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => parseAllDocuments(m[1] ?? '').map((d) => d.toJS() as Json));
}

const get = (o: unknown, path: string[]): unknown => path.reduce<unknown>((v, k) => (v !== null && typeof v === 'object' ? (v as Json)[k] : undefined), o);

/**
 * The subset of Go text/template (+ Sprig's toJson) the documented template uses: `.a.b`,
 * `index .a.b "key"`, piped to `toJson`. Anything else throws, so the docs cannot drift untested.
 */
export function renderGoTemplate(template: string, data: Json): string {
  return template.replace(/\{\{\s*(.*?)\s*\}\}/g, (_, expr: string) => {
    const [term = '', ...pipes] = expr.split('|').map((p) => p.trim());
    let value: unknown;
    const index = /^index\s+(\.[\w.]+)\s+"([^"]*)"$/.exec(term);
    if (index?.[1] !== undefined && index[2] !== undefined) value = get(get(data, index[1].slice(1).split('.')), [index[2]]);
    else if (/^\.[\w.]+$/.test(term)) value = get(data, term.slice(1).split('.'));
    else throw new Error(`template term not supported by this test renderer: ${term}`);
    for (const p of pipes) {
      if (p !== 'toJson') throw new Error(`template function not supported by this test renderer: ${p}`);
      value = JSON.stringify(value ?? null);
    }
    return value === undefined ? '<no value>' : String(value);
  });
}

export interface Delivery {
  path: string;
  headers: Record<string, string>;
  body: string;
}

/** Argo CD's `argocd-notifications-cm` and secret from the docs. */
export function argoFromDocs(): { token: string; send(app: Json): Delivery; trigger: Json[]; subscription: Record<string, string> } {
  const docs = docsYaml().flat();
  const cm = docs.find((d) => get(d, ['metadata', 'name']) === 'argocd-notifications-cm');
  const secret = docs.find((d) => get(d, ['metadata', 'name']) === 'argocd-notifications-secret');
  const annotations = docs.find((d) => get(d, ['metadata', 'annotations']) !== undefined && get(d, ['kind']) === undefined);
  if (!cm || !secret || !annotations) throw new Error('docs/reporting.md lacks the Argo CD ConfigMap, secret or subscription');
  const data = cm['data'] as Record<string, string>;
  const serviceKey = Object.keys(data).find((k) => k.startsWith('service.webhook.'));
  if (!serviceKey) throw new Error('no webhook service in the ConfigMap');
  const serviceName = serviceKey.slice('service.webhook.'.length);
  const service = parse(data[serviceKey] ?? '') as { url: string; headers: { name: string; value: string }[] };
  const secrets = secret['stringData'] as Record<string, string>;
  // `$key` in a service setting names a key of argocd-notifications-secret.
  const headers = Object.fromEntries(service.headers.map((h) => [h.name.toLowerCase(), h.value.replace(/\$([\w-]+)/g, (_, k: string) => secrets[k] ?? `$${k}`)]));
  const triggerKey = Object.keys(data).find((k) => k.startsWith('trigger.'));
  const trigger = parse(data[triggerKey ?? ''] ?? '[]') as Json[];
  const templateNames = new Set(trigger.flatMap((t) => (t['send'] as string[] | undefined) ?? []));
  if (templateNames.size !== 1) throw new Error('the trigger should send one template');
  const [templateName = ''] = [...templateNames];
  const template = parse(data[`template.${templateName}`] ?? '') as { webhook: Record<string, { method: string; body: string }> };
  const hook = template.webhook[serviceName];
  if (!hook || hook.method !== 'POST') throw new Error(`template.${templateName} does not POST to service ${serviceName}`);
  const token = Object.values(secrets)[0] ?? '';
  return {
    token,
    trigger,
    subscription: get(annotations, ['metadata', 'annotations']) as Record<string, string>,
    send: (app) => ({ path: new URL(service.url).pathname, headers, body: renderGoTemplate(hook.body, { app, context: {} }) }),
  };
}

/** An Argo CD Application as the notifications controller sees it. */
export function argoApp(options: { name: string; environment?: string; revision: string; sync: string; health: string; phase?: string; message?: string; healthMessage?: string; finishedAt?: string }): Json {
  return {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Application',
    metadata: { name: options.name, namespace: 'argocd', ...(options.environment !== undefined && { annotations: { 'baton.dev/environment': options.environment, 'notifications.argoproj.io/subscribe.on-baton.baton': '' } }) },
    status: {
      sync: { status: options.sync, revision: options.revision },
      health: { status: options.health, ...(options.healthMessage !== undefined && { message: options.healthMessage }) },
      ...(options.phase !== undefined && {
        operationState: { phase: options.phase, message: options.message ?? '', finishedAt: options.finishedAt ?? new Date().toISOString(), syncResult: { revision: options.revision } },
      }),
    },
  };
}

/** Flux's Secret, Provider and Alert from the docs. */
export function fluxFromDocs(): { token: string; environment: string; send(e: { reason: string; severity: 'info' | 'error'; message: string; revision: string; branch?: string }): Delivery } {
  const docs = docsYaml().flat();
  const provider = docs.find((d) => d['kind'] === 'Provider');
  const alert = docs.find((d) => d['kind'] === 'Alert');
  const secret = docs.find((d) => d['kind'] === 'Secret' && get(d, ['metadata', 'name']) === get(provider, ['spec', 'secretRef', 'name']));
  if (!provider || !alert || !secret) throw new Error('docs/reporting.md lacks the Flux Provider, Alert or their Secret');
  if (get(provider, ['spec', 'type']) !== 'generic-hmac') throw new Error('the Provider is not generic-hmac');
  if (get(alert, ['spec', 'providerRef', 'name']) !== get(provider, ['metadata', 'name'])) throw new Error('the Alert does not use the Provider');
  const token = String(get(secret, ['stringData', 'token']) ?? '');
  const source = (get(alert, ['spec', 'eventSources']) as { kind: string; name: string }[])[0];
  const extra = (get(alert, ['spec', 'eventMetadata']) ?? {}) as Record<string, string>;
  const address = String(get(provider, ['spec', 'address']));
  return {
    token,
    environment: extra['environment'] ?? '',
    send: (e) => {
      // notification-controller: the controller's event, Alert eventMetadata merged in, signed with the secret's token.
      const body = JSON.stringify({
        involvedObject: { kind: source?.kind, namespace: get(alert, ['metadata', 'namespace']), name: source?.name, uid: randomUUID(), apiVersion: 'kustomize.toolkit.fluxcd.io/v1', resourceVersion: '12345' },
        severity: e.severity,
        timestamp: new Date().toISOString(),
        message: e.message,
        reason: e.reason,
        metadata: { revision: `${e.branch ?? 'main'}@sha1:${e.revision}`, ...extra },
        reportingController: 'kustomize-controller',
        reportingInstance: 'kustomize-controller-7f5d9c8b4-x2k9p',
      });
      return { path: new URL(address).pathname, headers: { 'content-type': 'application/json', 'x-signature': `sha256=${createHmac('sha256', token).update(body).digest('hex')}` }, body };
    },
  };
}
