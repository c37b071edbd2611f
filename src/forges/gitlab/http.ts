/**
 * HTTP for the GitLab adapter: one request function under both gitbeaker (REST) and GraphQL, so retries
 * on 429/5xx honour `Retry-After` the same way everywhere. gitbeaker's own handler retries 429/502 on a
 * fixed schedule and ignores `Retry-After`, so it is replaced through its `requesterFn` option.
 */

import { boundSignal } from '../timeout.js';
import { createRequesterFn } from '@gitbeaker/requester-utils';
import { ForgeError, RetryableError } from '../types.js';
import { retryAfterMs } from '../../core/retry-after.js';

export { retryAfterMs };

export interface RetryPolicy {
  /** Attempts per request, the first included. */
  attempts: number;
  /** Longest wait Baton sits out in-process; a longer `Retry-After` is handed to the queue as RetryableError. */
  maxWaitMs: number;
  /** Backoff base when the server gives no `Retry-After`. */
  baseDelayMs: number;
  sleep: (ms: number) => Promise<void>;
  /** Jitter source in [0, 1); injected so tests and the bench replay exactly. */
  random: () => number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  attempts: 4,
  maxWaitMs: 30_000,
  baseDelayMs: 250,
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  random: Math.random,
};

/** A refusal from GitLab, with the message from its body (`message` or `error`), never the request's headers. */
export class GitlabApiError extends ForgeError {
  constructor(
    readonly method: string,
    readonly path: string,
    status: number,
    readonly gitlabMessage: string,
  ) {
    super(`GitLab ${method} ${path} answered ${status}: ${gitlabMessage.slice(0, 300)}`, status);
    this.name = 'GitlabApiError';
  }
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}


function messageOf(body: unknown): string {
  if (typeof body === 'string') return body.trim();
  if (typeof body === 'object' && body !== null) {
    const o = body as Record<string, unknown>;
    const m = o['message'] ?? o['error'];
    return typeof m === 'string' ? m : JSON.stringify(m ?? o);
  }
  return '';
}

async function readBody(res: Response): Promise<unknown> {
  const text = await res.text();
  if ((res.headers.get('content-type') ?? '').includes('json') && text !== '') {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return text;
    }
  }
  return text;
}

/** One HTTP exchange with retries on 429, 5xx and network failures; other statuses throw GitlabApiError. */
export async function requestWithRetry(url: URL, init: RequestInit, policy: RetryPolicy): Promise<RawResponse> {
  const method = init.method ?? 'GET';
  // The path names the resource for error messages; the query may hold user data, and neither holds the token.
  const path = url.pathname;
  let last = '';
  for (let attempt = 1; ; attempt += 1) {
    let res: Response | undefined;
    try {
      res = await fetch(url, { ...init, signal: boundSignal(init.signal) });
    } catch (e) {
      last = `network error: ${(e as Error).message}`;
    }
    if (res) {
      const headers = Object.fromEntries(res.headers.entries());
      const body = await readBody(res);
      if (res.ok) return { status: res.status, headers, body };
      if (res.status !== 429 && res.status < 500) throw new GitlabApiError(method, path, res.status, messageOf(body));
      last = `${res.status}`;
      const wait = retryAfterMs(headers['retry-after'], Date.now());
      if (wait !== undefined && wait > policy.maxWaitMs) throw new RetryableError(`GitLab ${method} ${path}: ${res.status}, retry after ${wait} ms`, res.status, wait);
      if (attempt >= policy.attempts) throw new RetryableError(`GitLab ${method} ${path}: ${res.status} after ${attempt} attempts`, res.status, wait);
      await policy.sleep(wait ?? policy.baseDelayMs * 2 ** (attempt - 1) * (0.5 + policy.random() / 2));
      continue;
    }
    if (attempt >= policy.attempts) throw new RetryableError(`GitLab ${method} ${path}: ${last} after ${attempt} attempts`, 503);
    await policy.sleep(policy.baseDelayMs * 2 ** (attempt - 1));
  }
}

interface HandlerOptions {
  prefixUrl?: string;
  searchParams?: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
}

/** gitbeaker `requesterFn` whose requests go through `requestWithRetry`. */
export function gitbeakerRequester(policy: RetryPolicy): ReturnType<typeof createRequesterFn> {
  return createRequesterFn(
    (_, options) => Promise.resolve(options),
    async (endpoint, raw) => {
      const o = (raw ?? {}) as HandlerOptions;
      const base = o.prefixUrl && !o.prefixUrl.endsWith('/') ? `${o.prefixUrl}/` : o.prefixUrl;
      const url = new URL(endpoint, base);
      url.search = o.searchParams ?? '';
      const res = await requestWithRetry(url, { method: o.method ?? 'GET', ...(o.headers && { headers: o.headers }), ...(o.body !== undefined && { body: o.body }), ...(o.signal && { signal: o.signal }) }, policy);
      return { status: res.status, headers: res.headers, body: res.body as Record<string, unknown> };
    },
  );
}
