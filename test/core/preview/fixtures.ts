/** Shared inputs for the preview core tests: a config with previews and MR events. */

import { ConfigIndex } from '../../../src/config/index.js';
import { parseConfig } from '../../../src/config/load.js';
import type { PullRequestChanged } from '../../../src/core/event.js';

export const SHA = '3f2c1d0e9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e';
export const SHA2 = 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678';

export const TEMPLATE = `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: "{{name}}"
  namespace: argocd
  finalizers: [resources-finalizer.argocd.argoproj.io]
  labels:
    branch: "{{branchSlug}}"
  annotations:
    title: "{{title}}"
    branch: "{{branch}}"
    author: "{{author}}"
spec:
  project: previews
  source:
    repoURL: https://github.com/acme/web-chart.git
    path: chart
    targetRevision: main
    helm:
      parameters:
        - {name: image.repository, value: "{{repository}}"}
        - {name: image.tag, value: "{{tag}}"}
        - {name: pr, value: "{{number}}"}
  destination:
    server: https://kubernetes.default.svc
    namespace: "{{namespace}}"
`;

export function previewConfig(trigger: 'auto' | 'label' | 'command' = 'auto', extra = ''): string {
  return `version: 1
environments:
  staging:
    branch: main
images:
  web:
    repository: registry.example.com/acme/web
    source: github:acme/web
    policy: sha
    targets:
      staging: [envs/staging/kustomization.yaml]
previews:
  web:
    branch: previews
    path: apps/{{name}}.yaml
    template: templates/preview-app.yaml
    trigger: ${trigger}
${extra}`;
}

export function table(trigger: 'auto' | 'label' | 'command' = 'auto', extra = ''): ConfigIndex {
  const parsed = parseConfig(previewConfig(trigger, extra));
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.messages));
  return new ConfigIndex(parsed.config, 'main');
}

export function mrEvent(action: PullRequestChanged['action'], over: Partial<PullRequestChanged> = {}): PullRequestChanged {
  return {
    type: 'pull-request',
    source: 'github',
    deliveryId: `d-${action}`,
    actor: 'alice',
    action,
    repo: { forge: 'github', path: 'acme/web' },
    number: 42,
    title: 'Add the thing',
    author: 'alice',
    headSha: SHA,
    headBranch: 'feature/thing',
    baseBranch: 'main',
    fromFork: false,
    labels: [],
    ...over,
  };
}
