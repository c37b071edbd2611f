/**
 * Plan time for one image bump across 300 targets in an env repo of 2,000 YAML files, against the
 * floor of simply parsing those files once with `yaml`. Everything is generated in memory.
 */

import { performance } from 'node:perf_hooks';
import { parseAllDocuments } from 'yaml';
import type { BenchModule } from './index.js';
import type { SetImage, TargetSpec } from '../src/core/intent.js';
import { plan } from '../src/core/plan.js';

const FILES = 2000;
const TARGETS = 300;
const RUNS = 7;
const REPO = 'registry.example.com/team/web';

function deployment(n: number, image: string): string {
  return [
    '# generated service',
    'apiVersion: apps/v1',
    'kind: Deployment',
    'metadata:',
    `  name: svc-${n}`,
    `  labels: {app: svc-${n}, tier: backend}`,
    'spec:',
    '  replicas: 2',
    '  template:',
    '    spec:',
    '      initContainers:',
    '        - name: migrate',
    `          image: ${image}`,
    '      containers:',
    `        - name: svc-${n}`,
    `          image: ${image}   # app`,
    '          ports: [{containerPort: 8080}]',
    '          env:',
    ...Array.from({ length: 12 }, (_, i) => `            - {name: VAR_${i}, value: "value-${n}-${i}"}`),
    '        - name: proxy',
    '          image: registry.example.com/team/envoy:1.30.1',
    '---',
    'apiVersion: v1',
    'kind: Service',
    'metadata:',
    `  name: svc-${n}`,
    'spec:',
    '  ports:',
    '    - port: 80',
    '      targetPort: 8080',
    '',
  ].join('\n');
}

function kustomization(n: number, repo: string): string {
  return `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../../base/svc-${n}\nimages:\n  - name: registry.example.com/team/envoy\n    newTag: 1.30.1\n  - name: ${repo}\n    newTag: "1.4.2" # pinned by Baton\n`;
}

function values(n: number, repo: string): string {
  return `# values for svc-${n}\nweb:\n  replicaCount: 2\n  image:\n    repository: ${repo}\n    tag: "1.4.2"\n    pullPolicy: IfNotPresent\n  resources:\n    limits: {cpu: 500m, memory: 256Mi}\n  ingress:\n    enabled: true\n    hosts: [svc-${n}.example.com]\n`;
}

function argoApp(n: number, repo: string): string {
  return `apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: svc-${n}\nspec:\n  project: default\n  source:\n    repoURL: https://git.example.com/deploy.git\n    path: apps/svc-${n}\n    kustomize:\n      images:\n        - ${repo}:1.4.2\n  destination: {server: https://kubernetes.default.svc, namespace: svc-${n}}\n`;
}

/** 2,000 files; every 2,000/300-th one references the image, cycling through the target kinds. */
function envRepo(): { files: Record<string, string>; targets: TargetSpec[] } {
  const files: Record<string, string> = {};
  const targets: TargetSpec[] = [];
  const step = FILES / TARGETS;
  for (let n = 0; n < FILES; n++) {
    const isTarget = targets.length < TARGETS && Math.floor(targets.length * step) === n;
    const repo = isTarget ? REPO : `registry.example.com/team/svc-${n}`;
    const kind = n % 4;
    const path = `envs/e${n % 10}/svc-${n}/${['deployment', 'kustomization', 'values', 'app'][kind] ?? 'x'}.yaml`;
    files[path] = kind === 0 ? deployment(n, `${repo}:1.4.2`) : kind === 1 ? kustomization(n, repo) : kind === 2 ? values(n, repo) : argoApp(n, repo);
    if (isTarget) targets.push(kind === 2 ? { file: path, key: 'web.image.tag' } : { file: path });
  }
  return { files, targets };
}

function p50(samples: number[]): number {
  const s = [...samples].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

function time(fn: () => void): number {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
}

export default {
  title: 'plan: one bump across 300 targets in a 2,000-file env repo',
  async run(): Promise<string[]> {
    const { files, targets } = envRepo();
    const intent: SetImage = {
      type: 'set-image',
      destination: { branch: 'main', write: 'commit' },
      env: 'staging',
      image: 'web',
      repository: REPO,
      tag: '1.5.0',
      digest: 'sha256:' + 'fedcba9876543210'.repeat(4),
      digestMode: 'pin',
      mode: 'upgrade',
      policy: { policy: 'semver' },
      targets,
      cause: { source: 'registry/distribution', deliveryId: 'bench' },
    };
    const texts = Object.values(files);
    const bytes = texts.reduce((n, t) => n + t.length, 0);
    // Warm up the JIT on both paths before measuring.
    plan([intent], files);
    plan([intent], files, { reparse: true });
    for (const t of texts) parseAllDocuments(t);

    const planTimes: number[] = [];
    const reparseTimes: number[] = [];
    const parseAllTimes: number[] = [];
    const parseTargetTimes: number[] = [];
    let written = 0;
    let problems = 0;
    for (let r = 0; r < RUNS; r++) {
      parseAllTimes.push(time(() => texts.forEach((t) => parseAllDocuments(t))));
      parseTargetTimes.push(time(() => targets.forEach((t) => parseAllDocuments(files[t.file] ?? ''))));
      planTimes.push(
        time(() => {
          const cs = plan([intent], files);
          written = cs.changes.length;
          problems = cs.problems.length;
        }),
      );
      reparseTimes.push(time(() => plan([intent], files, { reparse: true })));
    }
    const reparseMs = p50(reparseTimes);
    const planMs = p50(planTimes);
    const parseAllMs = p50(parseAllTimes);
    const parseTargetsMs = p50(parseTargetTimes);
    return [
      `env repo: ${FILES} files, ${(bytes / 1024 / 1024).toFixed(1)} MiB; ${TARGETS} targets (deployments, kustomizations, Helm values, Argo CD apps); ${written} files written, ${problems} problems`,
      `plan (find, edit, verify; digest pinned), p50 of ${RUNS}: ${planMs.toFixed(1)} ms (${(planMs / TARGETS).toFixed(2)} ms per target)`,
      `before (every edit proven by re-parsing the edited file), p50 of ${RUNS}: ${reparseMs.toFixed(1)} ms = ${(reparseMs / parseTargetsMs).toFixed(2)}x the target parse`,
      `baseline: parse all ${FILES} files once with yaml, p50: ${parseAllMs.toFixed(1)} ms`,
      `baseline: parse the ${TARGETS} target files once, p50: ${parseTargetsMs.toFixed(1)} ms`,
      `ratio plan / parse all files: ${(planMs / parseAllMs).toFixed(2)}x; plan / parse the targets: ${(planMs / parseTargetsMs).toFixed(2)}x (goal <= 2x; before ${(reparseMs / parseTargetsMs).toFixed(2)}x)`,
    ];
  },
} satisfies BenchModule;
