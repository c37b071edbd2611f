/** The HTTP edge: webhooks in, probes and metrics out. Handlers verify, parse, enqueue, answer. */

import { createHmac, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http';
import express from 'express';
import type { ErrorRequestHandler } from 'express';
import type { Logger } from 'pino';
import type { Metrics } from '../app/metrics.js';
import type { Queue } from '../queue/types.js';
import { registrySources as defaultRegistrySources } from '../sources/registry/index.js';
import type { Delivery, Source } from '../sources/types.js';
import { handleDelivery } from './webhook.js';
import { verifyAuthorizationHeader } from '../sources/auth.js';
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
  /** Why not ready, dead letters and the like: shown on `/readyz`. */
  readyDetail?(): Record<string, unknown>;
  /** `GET /status`: what Baton did per environment × image; readable with one of `secrets()` as a Bearer token. */
  status?: { secrets(): string[]; report(): Promise<unknown> };
  maxBodyBytes?: number;
  /** Bytes of request bodies held in memory at once, across all webhooks; beyond it, 503 with Retry-After. */
  maxInflightBodyBytes?: number;
  now?: () => Date;
}

export const DEFAULT_MAX_INFLIGHT_BODY_BYTES = 64 * 1024 * 1024;

/** Bytes reserved by bodies being read: a bound on what concurrent large requests can hold. */
class ByteBudget {
  private used = 0;
  constructor(private readonly max: number) {}
  take(n: number): boolean {
    if (this.used + n > this.max && this.used > 0) return false;
    this.used += n;
    return true;
  }
  give(n: number): void {
    this.used -= n;
  }
}

type BodyRead = { ok: true; body: Buffer; hmacs?: string[] } | { ok: false; status: 413 } | { ok: false; status: 'gone' };

/** Read a request body up to `maxBytes`, hashing it with each secret as it streams when the source signs with HMAC. */
function readBody(req: IncomingMessage, maxBytes: number, hmacSecrets: readonly string[] | undefined): Promise<BodyRead> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const hmacs = hmacSecrets?.map((s) => createHmac('sha256', s));
    let total = 0;
    const finish = (r: BodyRead): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onGone);
      req.off('close', onClose);
      resolve(r);
    };
    const onData = (chunk: Buffer): void => {
      total += chunk.length;
      if (total > maxBytes) {
        chunks.length = 0;
        finish({ ok: false, status: 413 });
        return;
      }
      for (const h of hmacs ?? []) h.update(chunk);
      chunks.push(chunk);
    };
    // A body that came in one chunk (most webhooks) is that chunk: no copy into a new buffer.
    const onEnd = (): void => finish({ ok: true, body: chunks.length === 1 && chunks[0] ? chunks[0] : Buffer.concat(chunks, total), ...(hmacs && { hmacs: hmacs.map((h) => h.digest('hex')) }) });
    const onGone = (): void => finish({ ok: false, status: 'gone' });
    const onClose = (): void => {
      if (!req.complete) onGone();
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onGone);
    req.on('close', onClose);
  });
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** The 413 reason: this endpoint's own limit (`/webhooks/github` takes GitHub's 25 MiB, the rest BATON_MAX_BODY_BYTES). */
function limitText(bytes: number): string {
  const mib = bytes / (1024 * 1024);
  return `the limit is ${Number.isInteger(mib) ? `${mib} MiB (${bytes} bytes)` : `${bytes} bytes`} for this endpoint`;
}

/** The webhook reply, written directly: what `res.json` sends, without its per-reply detours. */
function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

declare module 'http' {
  interface IncomingMessage {
    /** This request's log: its id, and the one line written when the reply is done. */
    baton: RequestLog;
  }
}

const QUIET_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

/**
 * One request's log. Every line carries `req: { id, method, path }`. A request writes one line when
 * its reply is done (probes and scrapes none): `request completed` with the status and time taken,
 * or, for a webhook delivery, the line `note` set — `webhook` with what was accepted, `webhook
 * refused` (warn) with the reason — carrying the status and time as well. One line per delivery
 * instead of two halves what logging costs a delivery at `info` (measured in docs/performance.md).
 */
class RequestLog {
  private line: { level: 'info' | 'warn'; fields: Record<string, unknown>; msg: string } | undefined;
  private child: Logger | undefined;

  constructor(
    private readonly logger: Logger,
    readonly req: { id: string; method: string | undefined; path: string },
  ) {}

  /** The line this request ends with, instead of `request completed`. */
  note(level: 'info' | 'warn', fields: Record<string, unknown>, msg: string): void {
    this.line = { level, fields, msg };
  }

  /** A line now (an error with its stack), bound to this request. */
  get log(): Logger {
    this.child ??= this.logger.child({ req: this.req });
    return this.child;
  }

  finished(statusCode: number, responseTime: number, sent: boolean): void {
    const level = statusCode >= 500 ? 'error' : (this.line?.level ?? 'info');
    if (!this.logger.isLevelEnabled(level)) return;
    const msg = statusCode >= 500 ? 'request errored' : !sent ? 'request aborted' : (this.line?.msg ?? 'request completed');
    this.logger[level]({ req: this.req, ...this.line?.fields, res: { statusCode }, responseTime }, msg);
  }
}

/**
 * A request id (the sender's `X-Request-Id` when it is sane, else a fresh one, echoed back) and the
 * request's log. Headers and query strings are never logged: they carry tokens and signatures. This
 * replaces pino-http, whose per-request serializer work cost more than verifying and journaling a
 * delivery.
 */
function beginRequest(logger: Logger, req: IncomingMessage, res: ServerResponse, path: string): void {
  const given = req.headers['x-request-id'];
  const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
  res.setHeader('X-Request-Id', id);
  const log = new RequestLog(logger, { id, method: req.method, path });
  req.baton = log;
  if (QUIET_PATHS.has(path)) return;
  const started = Date.now();
  // 'close' comes after 'finish' for a reply that was sent, and alone for one cut off.
  res.once('close', () => log.finished(res.statusCode, Date.now() - started, res.writableFinished));
}

function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

// Null-prototype records: a header or parameter named `constructor` or `__proto__` is just a key.
function headersOf(req: IncomingMessage): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = Object.create(null) as Record<string, string | undefined>;
  for (const [k, v] of Object.entries(req.headers)) out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

function queryOf(url: string): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = Object.create(null) as Record<string, string | undefined>;
  const q = url.indexOf('?');
  if (q < 0) return out;
  const hash = url.indexOf('#', q);
  for (const [k, v] of new URLSearchParams(url.slice(q + 1, hash < 0 ? undefined : hash))) out[k] = v;
  return out;
}

/**
 * The request listener: webhook deliveries on their canonical paths are served straight off
 * node:http (Express's router, per-request prototype swaps and helpers cost more than verifying,
 * parsing and journaling a delivery); everything else — probes, `/status`, `/metrics`, and webhook
 * paths spelt another way (a trailing slash, other letter case, escapes) — goes through Express,
 * where the same `serve` answers.
 */
export type HttpApp = RequestListener;

export function createHttpApp(deps: HttpDeps): HttpApp {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', false);
  const now = deps.now ?? (() => new Date());
  const limit = deps.maxBodyBytes ?? 1024 * 1024;
  const registrySources = deps.registrySources ?? defaultRegistrySources;

  // No ETag on replies: a webhook sender never revalidates, and hashing every reply cost time per delivery.
  app.set('etag', false);
  app.use((req, res, next) => {
    // The fast path below has begun this request already.
    if (!req.baton) beginRequest(deps.logger, req, res, pathOf(req.url));
    next();
  });

  const budget = new ByteBudget(deps.maxInflightBodyBytes ?? DEFAULT_MAX_INFLIGHT_BODY_BYTES);

  /** Answer without reading the body, and close the connection so its bytes are never read either. */
  function refuse(req: IncomingMessage, res: ServerResponse, label: string, status: number, result: string, body: Record<string, unknown>): void {
    deps.metrics.webhooks.inc({ source: label, result });
    req.baton.note('warn', { source: label, reason: body['reason'] }, 'webhook refused');
    res.setHeader('Connection', 'close');
    sendJson(res, status, body);
  }

  async function serve(req: IncomingMessage, res: ServerResponse, source: Source, secrets: string[], label: string, maxBytes: number): Promise<void> {
    const head = { headers: headersOf(req), query: queryOf(req.url ?? '') };
    // Authenticity first, before a single body byte is buffered: a stranger's bytes cost nothing.
    const pre = source.precheck ? source.precheck(head, secrets) : secrets.length > 0 ? { ok: true as const } : { ok: false as const, reason: 'no secret is configured for this endpoint' };
    if (!pre.ok) return refuse(req, res, label, 401, 'unauthorized', { error: 'unauthorized', reason: pre.reason });
    const declared = Number(req.headers['content-length'] ?? Number.NaN);
    if (declared > maxBytes) return refuse(req, res, label, 413, 'too-large', { error: 'payload too large', reason: limitText(maxBytes) });
    const reserve = Number.isSafeInteger(declared) && declared >= 0 ? declared : maxBytes;
    if (!budget.take(reserve)) {
      res.setHeader('Retry-After', '5');
      return refuse(req, res, label, 503, 'busy', { error: 'busy', reason: 'too many large requests at once; retry shortly' });
    }
    let read: BodyRead;
    try {
      read = await readBody(req, maxBytes, source.hmac ? secrets : undefined);
    } finally {
      budget.give(reserve);
    }
    if (!read.ok) {
      if (read.status === 413) refuse(req, res, label, 413, 'too-large', { error: 'payload too large', reason: limitText(maxBytes) });
      return;
    }
    const delivery: Delivery = { ...head, rawBody: read.body, receivedAt: now().toISOString(), ...(read.hmacs && { bodyHmacs: read.hmacs }) };
    const reply = await handleDelivery(source, secrets, delivery, deps.queue, deps.admit);
    deps.metrics.webhooks.inc({ source: label, result: reply.result });
    if (reply.status >= 400) req.baton.note('warn', { source: label, reason: reply.body['reason'] }, 'webhook refused');
    else req.baton.note('info', { source: label, result: reply.result, ...(reply.body['deliveries'] ? { deliveries: reply.body['deliveries'] } : { reason: reply.body['reason'] }) }, 'webhook');
    sendJson(res, reply.status, reply.body);
  }

  app.post('/webhooks/registry/:kind', async (req, res) => {
    const kind = String(req.params['kind']);
    const source = Object.hasOwn(registrySources, kind) ? registrySources[kind] : undefined;
    if (!source) {
      res.status(404).json({ error: 'not found', reason: `unknown registry kind; use one of ${Object.keys(registrySources).join(', ')}` });
      return;
    }
    await serve(req, res, source, deps.registrySecrets(kind), `registry/${kind}`, limit);
  });

  /** The webhook routes by exact path, for the fast path; Express keeps the same routes for other spellings. */
  const fast = new Map<string, (req: IncomingMessage, res: ServerResponse) => Promise<void>>();
  for (const [kind, source] of Object.entries(registrySources)) {
    fast.set(`/webhooks/registry/${kind}`, (req, res) => serve(req, res, source, deps.registrySecrets(kind), `registry/${kind}`, limit));
  }
  for (const [name, s] of Object.entries(deps.sources ?? {})) {
    const handler = (req: IncomingMessage, res: ServerResponse): Promise<void> => serve(req, res, s.source, s.secrets(), name, s.maxBytes ?? limit);
    fast.set(`/webhooks/${name}`, handler);
    app.post(`/webhooks/${name}`, handler);
  }

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', (_req, res) => {
    const ready = deps.isReady();
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready', ...deps.readyDetail?.(), queue: deps.queue.stats() });
  });
  app.get('/status', async (req, res) => {
    const status = deps.status;
    if (!status) {
      res.status(404).json({ error: 'not found' });
      return;
    }
    const auth = verifyAuthorizationHeader({ headers: headersOf(req), query: {} }, status.secrets());
    if (!auth.ok) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="baton"');
      res.status(401).json({ error: 'unauthorized', reason: auth.reason });
      return;
    }
    res.setHeader('Cache-Control', 'no-store');
    res.json(await status.report());
  });
  app.get('/metrics', async (_req, res) => {
    deps.metrics.observeQueue(deps.queue.stats());
    res.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });

  app.use((_req, res) => {
    res.status(404).json({ error: 'not found' });
  });

  const onError: ErrorRequestHandler = (err: { type?: string; status?: number; message?: string }, req, res, _next) => {
    if (err.type === 'entity.too.large') {
      res.status(413).json({ error: 'payload too large', reason: limitText(limit) });
      return;
    }
    if (typeof err.status === 'number' && err.status >= 400 && err.status < 500) {
      res.status(err.status).json({ error: 'bad request', reason: err.type ?? 'invalid request' });
      return;
    }
    req.baton.log.error({ err }, 'unhandled error');
    res.status(500).json({ error: 'internal error' });
  };
  app.use(onError);

  /** What Express's error handler does for a handler that threw, for the fast path. */
  function failed(req: IncomingMessage, res: ServerResponse, err: unknown): void {
    req.baton.log.error({ err }, 'unhandled error');
    if (res.headersSent) res.destroy();
    else sendJson(res, 500, { error: 'internal error' });
  }

  return (req, res) => {
    const url = req.url ?? '';
    if (req.method === 'POST' && url.startsWith('/webhooks/')) {
      const path = pathOf(url);
      const handler = fast.get(path);
      if (handler) {
        beginRequest(deps.logger, req, res, path);
        handler(req, res).catch((err: unknown) => failed(req, res, err));
        return;
      }
    }
    app(req, res);
  };
}

/** Connection limits for a webhook receiver (the `BATON_HTTP_*` settings, README "Settings"). */
export interface HttpServerLimits {
  /** Whole request, headers and body, must arrive within this (slow bodies are cut). */
  requestTimeoutMs: number;
  /** Headers must arrive within this (slow headers are cut). */
  headersTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs: number;
  /** Open connections at once; further ones are closed on accept. */
  maxConnections: number;
}

export const DEFAULT_HTTP_LIMITS: HttpServerLimits = { requestTimeoutMs: 30_000, headersTimeoutMs: 10_000, keepAliveTimeoutMs: 5_000, maxConnections: 512 };

/** Listen with the limits set: Node's defaults hold a dribbling client for minutes and accept any number of connections. */
export function listenHttp(app: HttpApp, port: number, host: string, limits: HttpServerLimits = DEFAULT_HTTP_LIMITS): Promise<Server> {
  const server = createServer(
    {
      requestTimeout: limits.requestTimeoutMs,
      headersTimeout: Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs || limits.headersTimeoutMs),
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      // How often the timeouts above are checked (Node's default is every 30 s).
      connectionsCheckingInterval: Math.max(100, Math.min(1_000, limits.headersTimeoutMs / 2)),
    },
    app,
  );
  server.maxConnections = limits.maxConnections;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
