/**
 * deploy/kubernetes: the kustomize base a user points Argo CD or Flux at. Every file parses, every
 * object is valid against the Kubernetes schema (kubernetes-models), the base is what the
 * kustomization says it is, the pod runs locked down, and what it says about Baton (port, data
 * dir, probe paths, drain time) is true of the real server and image.
 */

import { execFile } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Application } from '@kubernetes-models/argo-cd/argoproj.io/v1alpha1/Application';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { loadSettings } from '../../src/cli/settings.js';
import { oneImageConfig, startTestBaton } from '../helpers/baton.js';
import type { TestBaton } from '../helpers/baton.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BASE = join(ROOT, 'deploy', 'kubernetes');

type Obj = { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string> }; [k: string]: unknown };
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

/** Schema validation per kind: throws with the failing path when an object does not fit. */
const MODELS: Record<string, (o: unknown) => void> = {
  'apps/v1/Deployment': (o) => new Deployment(o as Any).validate(),
  'v1/Service': (o) => new Service(o as Any).validate(),
  'v1/ServiceAccount': (o) => new ServiceAccount(o as Any).validate(),
  'v1/ConfigMap': (o) => new ConfigMap(o as Any).validate(),
  'policy/v1/PodDisruptionBudget': (o) => new PodDisruptionBudget(o as Any).validate(),
  'networking.k8s.io/v1/NetworkPolicy': (o) => new NetworkPolicy(o as Any).validate(),
};

function validate(o: Obj): void {
  const check = MODELS[`${o.apiVersion}/${o.kind}`];
  if (!check) throw new Error(`${o.apiVersion} ${o.kind} is not a kind this base is expected to contain`);
  check(o);
}

function docs(text: string, file: string): unknown[] {
  const parsed = parseAllDocuments(text);
  const list = Array.isArray(parsed) ? parsed : [parsed];
  for (const d of list) if (d.errors.length > 0) throw new Error(`${file}: ${d.errors.map((e) => e.message).join('; ')}`);
  return list.map((d) => d.toJS() as unknown).filter((d) => d !== null);
}

const yamlFiles = readdirSync(BASE).filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'));
const kustomization = parseYaml(readFileSync(join(BASE, 'kustomization.yaml'), 'utf8')) as {
  resources: string[];
  labels: { pairs: Record<string, string>; includeSelectors?: boolean }[];
  configMapGenerator: { name: string; envs: string[] }[];
  images?: { name: string }[];
};
const resources: Obj[] = kustomization.resources.flatMap((f) => docs(readFileSync(join(BASE, f), 'utf8'), f) as Obj[]);
const byKind = (kind: string): Obj => {
  const found = resources.filter((r) => r.kind === kind);
  expect(found, `exactly one ${kind}`).toHaveLength(1);
  return found[0] as Obj;
};
const deployment = (): Any => byKind('Deployment');
const container = (): Any => deployment().spec.template.spec.containers[0];

/** KEY=VALUE lines, as kustomize's `envs:` reads them. */
function envFile(path: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const t = line.trim();
    if (!t || t.startsWith('#')) continue;
    const eq = t.indexOf('=');
    out[t.slice(0, eq)] = t.slice(eq + 1);
  }
  return out;
}

/** The settings a replica starts with: the generated ConfigMap, then the container's own env. */
function effectiveEnv(): Record<string, string> {
  const fromConfig = Object.assign({}, ...kustomization.configMapGenerator.flatMap((g) => g.envs.map((e) => envFile(join(BASE, e))))) as Record<string, string>;
  const own = Object.fromEntries((container().env as { name: string; value: string }[]).map((e) => [e.name, e.value]));
  return { ...fromConfig, ...own };
}

describe('deploy/kubernetes parses and fits the Kubernetes schema', () => {
  it('every YAML file in the base parses', () => {
    expect(yamlFiles.length).toBeGreaterThan(1);
    for (const f of yamlFiles) expect(() => docs(readFileSync(join(BASE, f), 'utf8'), f), f).not.toThrow();
  });

  it('the kustomization lists exactly the manifest files, and its generator inputs exist', () => {
    expect([...kustomization.resources].sort()).toEqual(yamlFiles.filter((f) => f !== 'kustomization.yaml').sort());
    for (const g of kustomization.configMapGenerator) for (const e of g.envs) expect(() => readFileSync(join(BASE, e)), e).not.toThrow();
  });

  it('every object validates against its schema (kubernetes-models)', () => {
    expect(resources.map((r) => r.kind).sort()).toEqual(['Deployment', 'NetworkPolicy', 'PodDisruptionBudget', 'Service', 'ServiceAccount']);
    for (const r of resources) expect(() => validate(r), `${r.kind}/${r.metadata.name}`).not.toThrow();
  });

  it('the schema check is real: a broken Deployment is refused with its path', () => {
    const broken = structuredClone(deployment());
    broken.spec.replicas = 'two';
    expect(() => validate(broken)).toThrow(/replicas/);
    const noImage = structuredClone(deployment());
    delete noImage.spec.template.spec.containers[0].name;
    expect(() => validate(noImage)).toThrow(/name/);
  });

  it('holds no Secret: the Deployment references one the user creates', () => {
    expect(resources.filter((r) => r.kind === 'Secret')).toEqual([]);
    const refs = (container().envFrom as { secretRef?: { name: string; optional?: boolean } }[]).map((e) => e.secretRef).filter(Boolean);
    expect(refs).toEqual([{ name: 'baton', optional: false }]);
    for (const f of yamlFiles) expect(readFileSync(join(BASE, f), 'utf8'), f).not.toMatch(/^kind:\s*Secret\s*$/m);
  });
});

describe('deploy/kubernetes runs Baton locked down', () => {
  it('the pod and its container run as the image’s non-root user with nothing extra', () => {
    const pod = deployment().spec.template.spec;
    const c = container();
    // The image's `USER node` is uid 1000 in the node base images; Kubernetes can only check a numeric uid.
    expect(readFileSync(join(ROOT, 'Dockerfile'), 'utf8')).toMatch(/^USER (node|1000)(:\S+)?$/m);
    for (const sc of [pod.securityContext, c.securityContext]) {
      expect(sc.runAsNonRoot).toBe(true);
      expect(sc.runAsUser).toBe(1000);
      expect(sc.seccompProfile).toEqual({ type: 'RuntimeDefault' });
    }
    expect(c.securityContext.readOnlyRootFilesystem).toBe(true);
    expect(c.securityContext.allowPrivilegeEscalation).toBe(false);
    expect(c.securityContext.capabilities).toEqual({ drop: ['ALL'] });
    expect(c.securityContext.privileged).toBeUndefined();
    expect(pod.hostNetwork ?? false).toBe(false);
  });

  it('no service-account token reaches the pod', () => {
    expect((byKind('ServiceAccount') as Any).automountServiceAccountToken).toBe(false);
    expect(deployment().spec.template.spec.serviceAccountName).toBe('baton');
    expect(deployment().spec.template.spec.automountServiceAccountToken).toBe(false);
  });

  it('requests and limits CPU and memory', () => {
    const r = container().resources;
    for (const k of ['cpu', 'memory']) {
      expect(r.requests[k], `requests.${k}`).toBeDefined();
      expect(r.limits[k], `limits.${k}`).toBeDefined();
    }
  });

  it('the writable paths are emptyDir volumes: BATON_DATA_DIR and /tmp', () => {
    const env = effectiveEnv();
    const mounts = new Map((container().volumeMounts as { name: string; mountPath: string }[]).map((m) => [m.mountPath, m.name]));
    const volumes = new Map((deployment().spec.template.spec.volumes as { name: string; emptyDir?: unknown }[]).map((v) => [v.name, v]));
    for (const path of [env['BATON_DATA_DIR'], '/tmp']) {
      const name = mounts.get(String(path));
      expect(name, `a volume at ${path}`).toBeDefined();
      expect(volumes.get(String(name))?.emptyDir, `${path} is an emptyDir`).toBeDefined();
    }
    // The image's own data dir: the same path, so a Dockerfile change shows here.
    expect(readFileSync(join(ROOT, 'Dockerfile'), 'utf8')).toContain(`BATON_DATA_DIR=${env['BATON_DATA_DIR']}`);
  });

  it('two replicas, spread, never both disrupted at once', () => {
    expect(deployment().spec.replicas).toBe(2);
    expect(deployment().spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
    expect((byKind('PodDisruptionBudget') as Any).spec.minAvailable).toBe(1);
  });

  it('every selector picks the Deployment’s pods', () => {
    const podLabels = deployment().spec.template.metadata.labels as Record<string, string>;
    const selectors: [string, Record<string, string>][] = [
      ['Deployment', deployment().spec.selector.matchLabels],
      ['Service', (byKind('Service') as Any).spec.selector],
      ['PodDisruptionBudget', (byKind('PodDisruptionBudget') as Any).spec.selector.matchLabels],
      ['NetworkPolicy', (byKind('NetworkPolicy') as Any).spec.podSelector.matchLabels],
    ];
    for (const [kind, sel] of selectors) {
      expect(Object.keys(sel).length, kind).toBeGreaterThan(0);
      for (const [k, v] of Object.entries(sel)) expect(podLabels[k], `${kind} selector ${k}`).toBe(v);
    }
  });

  it('the network policy admits only the HTTP port and lets out DNS, Redis, HTTPS and SSH', () => {
    const np = (byKind('NetworkPolicy') as Any).spec;
    expect(np.policyTypes).toEqual(['Ingress', 'Egress']);
    const inPorts = (np.ingress as Any[]).flatMap((r) => r.ports.map((p: Any) => p.port));
    expect(inPorts).toEqual([container().ports[0].name]);
    const outPorts = new Set((np.egress as Any[]).flatMap((r) => r.ports.map((p: Any) => `${p.port}/${p.protocol}`)));
    expect([...outPorts].sort()).toEqual(['22/TCP', '443/TCP', '53/TCP', '53/UDP', '6379/TCP']);
  });
});

describe('deploy/kubernetes matches the real server', () => {
  let t: TestBaton;
  beforeAll(async () => {
    t = await startTestBaton({ seed: { '.baton.yml': oneImageConfig('localhost:5000/team/web') } });
  }, 30_000);
  afterAll(async () => {
    await t?.close();
  });

  it('the port Baton listens on is the container port, the Service target and the image’s EXPOSE', () => {
    const env = effectiveEnv();
    const settings = loadSettings(env);
    const port = container().ports[0];
    expect(port.containerPort).toBe(settings.PORT);
    expect(settings.HOST).toBe('0.0.0.0');
    expect((byKind('Service') as Any).spec.ports[0].targetPort).toBe(port.name);
    expect(readFileSync(join(ROOT, 'Dockerfile'), 'utf8')).toMatch(new RegExp(`^EXPOSE ${settings.PORT}$`, 'm'));
  });

  it('liveness and startup probes hit a path that answers 200; readiness one that answers 200 when ready', async () => {
    const c = container();
    const live = c.livenessProbe.httpGet.path as string;
    const start = c.startupProbe.httpGet.path as string;
    const ready = c.readinessProbe.httpGet.path as string;
    for (const probe of [c.livenessProbe, c.readinessProbe, c.startupProbe]) expect(probe.httpGet.port).toBe(c.ports[0].name);
    expect([live, ready]).toEqual(['/healthz', '/readyz']);
    for (const path of [live, start, ready]) {
      const res = await fetch(t.url + path);
      expect(res.status, path).toBe(200);
    }
    // And readiness really drops: an unknown path would not (404 is "not ready" too, but for the wrong reason).
    expect((await fetch(t.url + '/no-such-probe')).status).toBe(404);
  });

  it('the grace period outlasts the preStop pause plus BATON_DRAIN_TIMEOUT', () => {
    const settings = loadSettings(effectiveEnv());
    const spec = deployment().spec.template.spec;
    const preStop = container().lifecycle.preStop.exec.command as string[];
    expect(preStop[0]).toBe('sleep');
    const pauseMs = Number(preStop[1]) * 1000;
    expect(settings.BATON_DRAIN_TIMEOUT).toBe(20_000);
    expect(spec.terminationGracePeriodSeconds * 1000).toBeGreaterThan(pauseMs + settings.BATON_DRAIN_TIMEOUT);
  });
});

describe('kustomize build of the base', () => {
  const exec = promisify(execFile);
  async function build(): Promise<Obj[] | string> {
    for (const cmd of [['kustomize', ['build', BASE]], ['kubectl', ['kustomize', BASE]]] as const) {
      try {
        const { stdout } = await exec(cmd[0], [...cmd[1]], { timeout: 30_000 });
        return docs(stdout, `${cmd[0]} output`) as Obj[];
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
    return 'neither kustomize nor kubectl is installed';
  }

  it('builds, every object carries the common labels and validates, and the generated ConfigMap is the one referenced', async () => {
    const common = Object.assign({}, ...kustomization.labels.map((l) => l.pairs)) as Record<string, string>;
    expect(common['app.kubernetes.io/name']).toBe('baton');
    const built = await build();
    if (typeof built === 'string') {
      // Without the tool: what kustomize would do is checked on the sources instead.
      console.log(`kustomize build not run: ${built}; checking the base's own labels instead`);
      for (const r of resources) expect(r.metadata.labels?.['app.kubernetes.io/name'], `${r.kind}`).toBe('baton');
      return;
    }
    expect(built.map((o) => o.kind).sort()).toEqual(['ConfigMap', 'Deployment', 'NetworkPolicy', 'PodDisruptionBudget', 'Service', 'ServiceAccount']);
    for (const o of built) {
      for (const [k, v] of Object.entries(common)) expect(o.metadata.labels?.[k], `${o.kind} ${k}`).toBe(v);
      expect(() => validate(o), `${o.kind}/${o.metadata.name}`).not.toThrow();
    }
    const cm = built.find((o) => o.kind === 'ConfigMap') as Any;
    expect(cm.metadata.name).toMatch(/^baton-settings-[a-z0-9]+$/);
    const dep = built.find((o) => o.kind === 'Deployment') as Any;
    const c = dep.spec.template.spec.containers[0];
    expect(c.envFrom.map((e: Any) => e.configMapRef?.name).filter(Boolean)).toEqual([cm.metadata.name]);
    expect(c.image).toMatch(/\/baton:/);
    // The built pod template carries the common labels too (Prometheus and dashboards select on them).
    for (const [k, v] of Object.entries(common)) expect(dep.spec.template.metadata.labels[k]).toBe(v);
  });
});

describe('docs/deploy.md', () => {
  const text = readFileSync(join(ROOT, 'docs', 'deploy.md'), 'utf8');
  const blocks = [...text.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => parseYaml(m[1] ?? '') as Any);

  it('shows an Argo CD Application that is valid and deploys this base', () => {
    const apps = blocks.filter((b) => b?.kind === 'Application');
    expect(apps.length).toBeGreaterThan(0);
    for (const a of apps) {
      expect(() => new Application(a).validate()).not.toThrow();
      expect(a.spec.source.path).toBe('deploy/kubernetes');
    }
  });

  it('shows a Flux Kustomization that deploys this base', () => {
    const flux = blocks.filter((b) => b?.kind === 'Kustomization' && String(b.apiVersion).startsWith('kustomize.toolkit.fluxcd.io/'));
    expect(flux.length).toBeGreaterThan(0);
    for (const f of flux) expect(String(f.spec.path)).toMatch(/deploy\/kubernetes$/);
  });
});
