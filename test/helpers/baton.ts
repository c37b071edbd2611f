/** Start the real Baton server (the same startBaton `npm start` runs) on an ephemeral port over a test env repo. */

import { rm } from 'node:fs/promises';
import type { EnvRepo, RunningBaton, StartOptions } from '../../src/cli/serve.js';
import { startBaton } from '../../src/cli/serve.js';
import { loadSettings } from '../../src/cli/settings.js';
import type { Outcome } from '../../src/core/outcome.js';
import { createBareRepo, tempDir } from './git-repo.js';
import type { TestRepo } from './git-repo.js';

export const TEST_TOKEN = 'test-registry-token-0123456789';

export interface TestBaton {
  baton: RunningBaton;
  url: string;
  /** The env repo (a real bare repository), unless `envRepo` was given. */
  repo: TestRepo | undefined;
  outcomes: Outcome[];
  post(path: string, body: string | Buffer | object, headers?: Record<string, string>): Promise<{ status: number; json: Record<string, unknown> }>;
  /** Resolve once every accepted event has been routed and written. */
  idle(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export interface TestBatonOptions {
  seed?: Record<string, string>;
  env?: Record<string, string>;
  envRepo?: EnvRepo;
  sources?: StartOptions['sources'];
  logger?: StartOptions['logger'];
  registry?: StartOptions['registry'];
  /** Reuse this data dir (a restart); it is then left in place on close. */
  dataDir?: string;
  /** Reuse this env repo (a restart); it is then left in place on close. */
  repo?: TestRepo;
}

export async function startTestBaton(options: TestBatonOptions = {}): Promise<TestBaton> {
  const repo = options.envRepo ? undefined : (options.repo ?? (await createBareRepo(options.seed ?? {})));
  const dataDir = options.dataDir ?? (await tempDir('baton-data-'));
  const env: Record<string, string> = {
    PORT: '0',
    HOST: '127.0.0.1',
    BATON_DATA_DIR: dataDir,
    BATON_REGISTRY_TOKEN: TEST_TOKEN,
    BATON_DEBOUNCE_MS: '200',
    BATON_CONFIG_TTL_MS: '0',
    LOG_LEVEL: process.env['TEST_LOG_LEVEL'] ?? 'silent',
    ...(repo && { BATON_ENV_REPO: repo.bare }),
    ...options.env,
  };
  const outcomes: Outcome[] = [];
  const baton = await startBaton({
    settings: loadSettings(env),
    env,
    ...(options.envRepo && { envRepo: options.envRepo }),
    ...(options.sources && { sources: options.sources }),
    ...(options.logger && { logger: options.logger }),
    ...(options.registry && { registry: options.registry }),
    onOutcome: (o) => {
      outcomes.push(o);
    },
  });
  const url = baton.url;
  return {
    baton,
    url,
    repo,
    outcomes,
    async post(path, body, headers = {}) {
      const payload = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
      const res = await fetch(url + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: payload });
      const text = await res.text();
      let json: Record<string, unknown> = {};
      try {
        json = JSON.parse(text) as Record<string, unknown>;
      } catch {
        json = { text };
      }
      return { status: res.status, json };
    },
    async idle(timeoutMs = 20_000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const s = baton.pipeline.queue.stats();
        if (s.pending === 0 && s.batches === 0) return baton.reporter.idle();
        if (Date.now() > until) throw new Error(`queue not idle after ${timeoutMs} ms: ${JSON.stringify(s)}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    async close() {
      await baton.close();
      if (!options.repo) await repo?.cleanup();
      if (!options.dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** A `.baton.yml` with one image and a staging environment that commits to main. */
export function oneImageConfig(repository: string, extra = ''): string {
  return `version: 1
environments:
  staging:
    branch: main
    write: commit
images:
  web:
    repository: ${repository}
    policy: semver
${extra}    targets:
      staging:
        - envs/staging/kustomization.yaml
`;
}

export function kustomization(repository: string, tag: string): string {
  return `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../base
images:
  - name: ${repository} # bumped by Baton
    newTag: "${tag}"
`;
}

/** A CNCF-registry ("distribution") push notification for `host/path:tag`, as the demo curl sends. */
export function distributionPush(id: string, host: string, path: string, tag: string, actor = 'ci'): object {
  return {
    events: [
      {
        id,
        action: 'push',
        target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', repository: path, tag, digest: `sha256:${'5'.repeat(64)}` },
        request: { host },
        actor: { name: actor },
      },
    ],
  };
}

export const REGISTRY_AUTH = { authorization: `Bearer ${TEST_TOKEN}` };

/** Poll `cond` every 25 ms until it holds (or fail after `ms`). */
export async function eventually(cond: () => boolean | Promise<boolean>, ms = 20_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
