/** Process settings from the environment (docs/configuration.md, "Settings"), validated once at start. */

import { resolve } from 'node:path';
import { z } from 'zod';

const Int = (def: number) => z.coerce.number().int().nonnegative().default(def);

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `30s`, `15m`, `24h`, `7d`, `500ms`, or a plain number of milliseconds. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m?.[1]) return undefined;
  return Number(m[1]) * (UNITS[m[2] ?? 'ms'] ?? 1);
}

const Duration = (def: string) =>
  z
    .string()
    .default(def)
    .transform((v, ctx) => {
      const ms = parseDuration(v);
      if (ms === undefined) {
        ctx.addIssue({ code: 'custom', message: `expected a duration like 30s, 15m, 24h or 7d (got ${JSON.stringify(v)})` });
        return z.NEVER;
      }
      return ms;
    });

const SettingsSchema = z.object({
  PORT: Int(3000),
  HOST: z.string().default('0.0.0.0'),
  BATON_ENV_REPO: z.string().min(1).optional(),
  BATON_DATA_DIR: z.string().default('./.baton'),
  BATON_REGISTRY_TOKEN: z.string().min(1).optional(),
  BATON_DEBOUNCE_MS: Int(2000),
  BATON_CONFIG_TTL_MS: Int(5000),
  BATON_MAX_BODY_BYTES: Int(1024 * 1024),
  BATON_MAX_INFLIGHT_BODY_BYTES: Int(64 * 1024 * 1024),
  BATON_HTTP_REQUEST_TIMEOUT_MS: Int(30_000),
  BATON_HTTP_HEADERS_TIMEOUT_MS: Int(10_000),
  BATON_HTTP_KEEPALIVE_TIMEOUT_MS: Int(5_000),
  BATON_HTTP_MAX_CONNECTIONS: Int(512),
  BATON_MAX_CONFIG_BYTES: Int(512 * 1024),
  BATON_MAX_TARGET_BYTES: Int(4 * 1024 * 1024),
  BATON_OFFTHREAD_BYTES: Int(256 * 1024),
  BATON_SKIP_CI: z.enum(['true', 'false', '1', '0']).optional(),
  BATON_GIT_AUTHOR_NAME: z.string().default('Baton'),
  BATON_GIT_AUTHOR_EMAIL: z.string().default('baton@localhost'),
  BATON_RESYNC_INTERVAL: z.string().optional(),
  /** How long a failing event is retried before it is parked as a dead letter. */
  BATON_RETENTION: Duration('24h'),
  /** How long SIGTERM waits for in-flight writes; the rest stays journaled for the next start. */
  BATON_DRAIN_TIMEOUT: Duration('20s'),
  /** Bound on one git command (fetch, push, …) and on one forge API request. */
  BATON_GIT_TIMEOUT: Duration('120s'),
  BATON_FORGE_TIMEOUT: Duration('30s'),
  BATON_SWEEP_INTERVAL: z.string().optional(),
  BATON_SWEEP_MAX_DELETES: Int(10),
  REDIS_URL: z.string().optional(),
  /** Observe only: route and plan every event and log the diff it would write; write nothing. */
  BATON_DRY_RUN: z.enum(['true', 'false', '1', '0']).optional(),
  /** Bearer token for GET /status (default: the registry token, BATON_REGISTRY_TOKEN). */
  BATON_STATUS_TOKEN: z.string().min(1).optional(),
  /** Where `baton status` asks the running server (default http://127.0.0.1:$PORT). */
  BATON_URL: z.string().url().optional(),
  /** Prefix of every Redis key; the replicas of one Baton share it, two Batons on one Redis must not. */
  BATON_REDIS_PREFIX: z.string().regex(/^[A-Za-z0-9_.-]+$/).default('baton'),
  /** A replica silent this long (killed, partitioned) is presumed dead: another one takes its jobs. */
  BATON_REDIS_LOCK_TIMEOUT: Duration('30s'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** `true`: run the embedded demo even where BATON_REQUIRE_ENV_REPO asks for a real env repo (the container image). */
  BATON_DEMO: z.enum(['true', 'false', '1', '0']).optional(),
  /** `true` (set in the container image): refuse to start without BATON_ENV_REPO unless BATON_DEMO=true. */
  BATON_REQUIRE_ENV_REPO: z.enum(['true', 'false', '1', '0']).optional(),
});

/** Every setting name the schema above knows; with the names read elsewhere (src/cli/known-settings.ts), what a typo is told against. */
export const SCHEMA_SETTING_NAMES: readonly string[] = Object.keys(SettingsSchema.shape);

export type Settings = z.output<typeof SettingsSchema> & { dataDir: string; skipCi: boolean; dryRun: boolean };

export class SettingsError extends Error {}

/** The process environment as plain strings (probot narrows NodeJS.ProcessEnv's types globally). */
export type Env = Readonly<Record<string, string | undefined>>;

export function loadSettings(env: Env): Settings {
  const clean: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== '') clean[k] = v;
  const parsed = SettingsSchema.safeParse(clean);
  if (!parsed.success) {
    throw new SettingsError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  }
  const skipCi = parsed.data.BATON_SKIP_CI === 'true' || parsed.data.BATON_SKIP_CI === '1';
  const dryRun = parsed.data.BATON_DRY_RUN === 'true' || parsed.data.BATON_DRY_RUN === '1';
  return { ...parsed.data, dataDir: resolve(parsed.data.BATON_DATA_DIR), skipCi, dryRun };
}
