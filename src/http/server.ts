/** The HTTP edge: webhooks in, probes and metrics out. Handlers verify, parse, enqueue, answer. */

import { randomUUID } from 'node:crypto';
import express from 'express';
import type { ErrorRequestHandler, Request, Response } from 'express';
import type { Logger } from 'pino';
import { pinoHttp } from 'pino-http';
import type { Metrics } from '../app/metrics.js';
import type { Queue } from '../queue/types.js';
import { registrySources as defaultRegistrySources } from '../sources/registry/index.js';
import type { Delivery, Source } from '../sources/types.js';
import { handleDelivery } from './webhook.js';
import type { Admit } from './webhook.js';

export interface HttpDeps {
  logger: Logger;
  metrics: Metrics;
  queue: Queue;
  /** Secrets accepted for a registry kind (shared token plus per-kind ones). */
  registrySecrets(kind: string): string[];
  /** Registry sources by kind (default: without per-kind settings, so `gar` refuses everything). */
  registrySources?: Readonly<Record<string, Source>>;
  /** Folds repeated pushes of the same content (Docker Hub's several calls per push, GHCR via two paths). */
  admit?: Admit;
  /** Extra webhook sources mounted at `/webhooks/<name>` (github, gitlab, argocd, flux). */
  sources?: Record<string, { source: Source; secrets: () => string[]; maxBytes?: number }>;
  /** Ready to take traffic (config loaded, not draining). */
  isReady(): boolean;
  maxBodyBytes?: number;
  now?: () => Date;
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

// Null-prototype records: a header or parameter named `constructor` or `__proto__` is just a key.
function headersOf(req: Request): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = Object.create(null) as Record<string, string | undefined>;
  for (const [k, v] of Object.entries(req.headers)) out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

function queryOf(req: Request): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = Object.create(null) as Record<string, string | undefined>;
  for (const [k, v] of new URL(req.originalUrl, 'http://x').searchParams) out[k] = v;
  return out;
}

export function createHttpApp(deps: HttpDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', false);
  const now = deps.now ?? (() => new Date());
  const limit = deps.maxBodyBytes ?? 1024 * 1024;
  const registrySources = deps.registrySources ?? defaultRegistrySources;

  app.use(
    pinoHttp({
      logger: deps.logger,
      genReqId: (req, res) => {
        const given = req.headers['x-request-id'];
        const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
        res.setHeader('X-Request-Id', id);
        return id;
      },
      // Never log headers or query strings: they carry tokens and signatures.
      serializers: {
        req: (req: { id: string; method: string; url: string }) => ({ id: req.id, method: req.method, path: req.url.split('?')[0] }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      },
      autoLogging: { ignore: (req) => req.url === '/healthz' || req.url === '/readyz' || req.url === '/metrics' },
    }),
  );

  const raw = (bytes: number) => express.raw({ type: () => true, limit: bytes });

  async function serve(req: Request, res: Response, source: Source, secrets: string[], label: string): Promise<void> {
    const delivery: Delivery = {
      headers: headersOf(req),
      query: queryOf(req),
      rawBody: Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0),
      receivedAt: now().toISOString(),
    };
    const reply = await handleDelivery(source, secrets, delivery, deps.queue, deps.admit);
    deps.metrics.webhooks.inc({ source: label, result: reply.result });
    if (reply.status >= 400) req.log.warn({ source: label, status: reply.status, reason: reply.body['reason'] }, 'webhook refused');
    else req.log.info({ source: label, result: reply.result, ...(reply.body['deliveries'] ? { deliveries: reply.body['deliveries'] } : { reason: reply.body['reason'] }) }, 'webhook');
    res.status(reply.status).json(reply.body);
  }

  app.post('/webhooks/registry/:kind', raw(limit), async (req, res) => {
    const kind = String(req.params['kind']);
    const source = Object.hasOwn(registrySources, kind) ? registrySources[kind] : undefined;
    if (!source) {
      res.status(404).json({ error: 'not found', reason: `unknown registry kind; use one of ${Object.keys(registrySources).join(', ')}` });
      return;
    }
    await serve(req, res, source, deps.registrySecrets(kind), `registry/${kind}`);
  });

  for (const [name, s] of Object.entries(deps.sources ?? {})) {
    app.post(`/webhooks/${name}`, raw(s.maxBytes ?? limit), async (req, res) => {
      await serve(req, res, s.source, s.secrets(), name);
    });
  }

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', (_req, res) => {
    const ready = deps.isReady();
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready', queue: deps.queue.stats() });
  });
  app.get('/metrics', async (_req, res) => {
    deps.metrics.queuePending.set(deps.queue.stats().pending);
    res.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });

  app.use((_req, res) => {
    res.status(404).json({ error: 'not found' });
  });

  const onError: ErrorRequestHandler = (err: { type?: string; status?: number; message?: string }, req, res, _next) => {
    if (err.type === 'entity.too.large') {
      res.status(413).json({ error: 'payload too large', reason: `the limit is ${limit} bytes` });
      return;
    }
    if (typeof err.status === 'number' && err.status >= 400 && err.status < 500) {
      res.status(err.status).json({ error: 'bad request', reason: err.type ?? 'invalid request' });
      return;
    }
    req.log.error({ err }, 'unhandled error');
    res.status(500).json({ error: 'internal error' });
  };
  app.use(onError);
  return app;
}
