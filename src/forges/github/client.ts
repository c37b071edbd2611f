/**
 * The narrow slice of Octokit the GitHub forge uses, built with throttling and retry so that
 * `Retry-After`, secondary rate limits and 5xx are handled once, below the adapter.
 */

import { Octokit } from '@octokit/rest';
import { retry } from '@octokit/plugin-retry';
import type { RetryOptions } from '@octokit/plugin-retry';
import { throttling } from '@octokit/plugin-throttling';
import type { ThrottlingOptions } from '@octokit/plugin-throttling';
// A dependency of @octokit/plugin-throttling; needed only to replace its 1 s write spacing in tests.
import Bottleneck from 'bottleneck';
import { ForgeError, RetryableError } from '../types.js';
import { timedFetch } from '../timeout.js';

export interface ApiResponse {
  status: number;
  data: unknown;
  headers: Record<string, string | number | undefined>;
}

/** What the adapter needs of a GitHub client: REST by route, GraphQL by document. */
export interface GitHubApi {
  request(route: string, params?: Record<string, unknown>): Promise<ApiResponse>;
  graphql(query: string, variables?: Record<string, unknown>): Promise<unknown>;
}

/** Waits and retries. Production keeps Octokit's defaults; tests shrink the time unit to 1 ms. */
export interface ClientTuning {
  /** Milliseconds per second of `Retry-After` / reset wait, and the unit of retry backoff. Default 1000. */
  timeUnitMs?: number;
  /** Retries after 5xx/network errors. Default 3. */
  retries?: number;
  /** Minimum spacing between writes (GitHub asks for about 1 s to avoid secondary limits). Default 1000. */
  writeSpacingMs?: number;
  /** Give up instead of waiting longer than this many seconds for a rate limit to reset. Default 900. */
  maxRateLimitWaitS?: number;
  /** How many times a rate-limited request is retried. Default 3. */
  rateLimitRetries?: number;
}

export const BatonOctokit = Octokit.plugin(throttling, retry);
export type BatonOctokitInstance = InstanceType<typeof BatonOctokit>;

/** Octokit constructor options for throttling and retry (shared by token and App clients). */
export function octokitTuningOptions(tuning: ClientTuning = {}, id = 'baton'): { throttle: ThrottlingOptions; retry: RetryOptions; request: { fetch: typeof fetch } } {
  const unit = tuning.timeUnitMs ?? 1000;
  const maxWait = tuning.maxRateLimitWaitS ?? 900;
  const maxRetries = tuning.rateLimitRetries ?? 3;
  const shouldWait = (retryAfter: number, _options: unknown, _octokit: unknown, retryCount: number): boolean =>
    retryCount < maxRetries && retryAfter <= maxWait;
  return {
    throttle: {
      id,
      retryAfterBaseValue: unit,
      fallbackSecondaryRateRetryAfter: 60,
      onRateLimit: shouldWait,
      onSecondaryRateLimit: shouldWait,
      ...(tuning.writeSpacingMs !== undefined && {
        write: new Bottleneck.Group({ maxConcurrent: 1, minTime: tuning.writeSpacingMs }),
        // Comments and PRs notify people; GitHub asks for more spacing between them (the plugin's default is 3 s).
        notifications: new Bottleneck.Group({ maxConcurrent: 1, minTime: tuning.writeSpacingMs }),
      }),
    },
    retry: { retryAfterBaseValue: unit, retries: tuning.retries ?? 3 },
    // Each request is bounded (BATON_FORGE_TIMEOUT); a timeout surfaces as a retryable error.
    request: { fetch: timedFetch },
  };
}

interface OctokitLike {
  request: (route: string, params?: Record<string, unknown>) => Promise<{ status: number; data: unknown; headers: object }>;
  graphql: (query: string, variables?: Record<string, unknown>) => Promise<unknown>;
}

/** Wrap any Octokit (token, App installation) as a GitHubApi. */
export function asGitHubApi(octokit: OctokitLike): GitHubApi {
  return {
    async request(route, params) {
      const res = await octokit.request(route, params);
      return { status: res.status, data: res.data, headers: res.headers as ApiResponse['headers'] };
    },
    graphql: (query, variables) => octokit.graphql(query, variables),
  };
}

export interface TokenClientOptions {
  token: string;
  /** `https://api.github.com`, `https://ghe.example.com/api/v3`, or an emulator. */
  baseUrl?: string;
  tuning?: ClientTuning;
  userAgent?: string;
}

export function createTokenClient(options: TokenClientOptions): GitHubApi {
  const octokit = new BatonOctokit({
    auth: options.token,
    baseUrl: options.baseUrl ?? 'https://api.github.com',
    userAgent: options.userAgent ?? 'baton',
    ...octokitTuningOptions(options.tuning),
    // Octokit logs request errors with URLs only; keep its console quiet, errors reach the caller.
    log: { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined },
  });
  return asGitHubApi(octokit);
}

interface ErrorShape {
  status?: unknown;
  message?: unknown;
  response?: { headers?: Record<string, unknown>; data?: unknown };
  errors?: unknown;
}

function headerNumber(headers: Record<string, unknown> | undefined, name: string): number | undefined {
  const v = headers?.[name];
  const n = typeof v === 'string' ? Number(v) : typeof v === 'number' ? v : NaN;
  return Number.isFinite(n) ? n : undefined;
}

/** GitHub's own message from an error response (never the request, which carries the token). */
function githubMessage(e: ErrorShape): string {
  const data = e.response?.data;
  if (data && typeof data === 'object' && 'message' in data && typeof data.message === 'string') return data.message.slice(0, 300);
  return typeof e.message === 'string' ? e.message.split('\n')[0]?.slice(0, 300) ?? 'error' : 'error';
}

/** GraphQL error types (answered with HTTP 200) → the HTTP status they stand for. */
const GRAPHQL_STATUS = new Map<string, number>([
  ['NOT_FOUND', 404],
  ['FORBIDDEN', 403],
  ['UNPROCESSABLE', 422],
  ['STALE_DATA', 409],
  ['RATE_LIMITED', 429],
  ['INTERNAL', 502],
]);

/** Octokit errors → ForgeError / RetryableError with the status a caller can act on. */
export function toForgeError(what: string, error: unknown): ForgeError {
  if (error instanceof ForgeError) return error;
  const e = (typeof error === 'object' && error !== null ? error : {}) as ErrorShape;
  if (Array.isArray(e.errors) && e.status === undefined) {
    // A GraphQL response with errors: permanent unless GitHub says it is a limit or its own failure.
    const first = (e.errors as { type?: unknown; message?: unknown }[])[0];
    const type = typeof first?.type === 'string' ? first.type : '';
    const message = `${what}: ${typeof first?.message === 'string' ? first.message.slice(0, 300) : 'GraphQL error'}`;
    const status = GRAPHQL_STATUS.get(type) ?? 422;
    return status === 429 || status >= 500 ? new RetryableError(message, status) : new ForgeError(message, status);
  }
  const status = typeof e.status === 'number' ? e.status : undefined;
  const message = `${what}: ${githubMessage(e)}`;
  if (status === undefined) return new RetryableError(message, 503);
  const headers = e.response?.headers;
  const retryAfterS = headerNumber(headers, 'retry-after');
  const rateLimited = status === 429 || (status === 403 && (headerNumber(headers, 'x-ratelimit-remaining') === 0 || retryAfterS !== undefined || /rate limit/i.test(message)));
  if (rateLimited || status >= 500) return new RetryableError(message, status, retryAfterS !== undefined ? retryAfterS * 1000 : undefined);
  return new ForgeError(message, status);
}
