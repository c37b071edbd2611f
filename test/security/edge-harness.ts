/** The HTTP edge in-process (createHttpApp + listenHttp) with every source mounted and a queue that records. */

import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { createMetrics } from '../../src/app/metrics.js';
import type { Event } from '../../src/core/event.js';
import { createHttpApp, DEFAULT_HTTP_LIMITS, listenHttp } from '../../src/http/server.js';
import type { HttpServerLimits } from '../../src/http/server.js';
import type { Queue } from '../../src/queue/types.js';
import { githubWebhookRoute } from '../../src/sources/github/index.js';
import { createGitlabSource } from '../../src/sources/gitlab/index.js';

export const REGISTRY_TOKEN = 'edge-registry-token';
export const GITHUB_SECRET = 'edge-github-secret';
export const GITLAB_TOKEN = 'edge-gitlab-token';

export interface Edge {
  url: string;
  server: Server;
  app: ReturnType<typeof createHttpApp>;
  queued: Event[];
  close(): Promise<void>;
}

export function recordingQueue(queued: Event[]): Queue {
  const seen = new Set<string>();
  return {
    async enqueue(e) {
      const key = `${e.source}\u0000${e.deliveryId}`;
      if (seen.has(key)) return 'duplicate';
      seen.add(key);
      queued.push(e);
      return 'queued';
    },
    async start() {},
    async drain() {},
    stats: () => ({ pending: 0, batches: 0, retrying: 0, dead: 0, oldestPendingMs: 0 }),
    deadLetters: () => [],
    retry: async () => [],
  };
}

export function edgeApp(queued: Event[], options: { maxBodyBytes?: number; maxInflightBodyBytes?: number; githubSecret?: string } = {}): ReturnType<typeof createHttpApp> {
  const githubSecret = options.githubSecret ?? GITHUB_SECRET;
  return createHttpApp({
    logger: pino({ level: 'silent' }),
    metrics: createMetrics(),
    queue: recordingQueue(queued),
    registrySecrets: (kind) => (kind === 'ghcr' ? [GITHUB_SECRET] : [REGISTRY_TOKEN]),
    sources: {
      github: githubWebhookRoute(githubSecret === '' ? {} : { WEBHOOK_SECRET: githubSecret }),
      gitlab: { source: createGitlabSource({ botUsername: 'baton-bot' }), secrets: () => [GITLAB_TOKEN] },
    },
    isReady: () => true,
    ...(options.maxBodyBytes !== undefined && { maxBodyBytes: options.maxBodyBytes }),
    ...(options.maxInflightBodyBytes !== undefined && { maxInflightBodyBytes: options.maxInflightBodyBytes }),
    now: () => new Date('2026-12-01T12:00:00Z'),
  });
}

export async function startEdge(options: Parameters<typeof edgeApp>[1] & { limits?: Partial<HttpServerLimits> } = {}): Promise<Edge> {
  const queued: Event[] = [];
  const app = edgeApp(queued, options);
  const server = await listenHttp(app, 0, '127.0.0.1', { ...DEFAULT_HTTP_LIMITS, ...options.limits });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    app,
    queued,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
