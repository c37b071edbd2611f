/** Every forge API request has a bound: a peer that accepts and never answers must not hold a destination. */

let forgeTimeoutMs = 30_000;

/** Set the bound for the process (BATON_FORGE_TIMEOUT). */
export function setForgeTimeout(ms: number): void {
  forgeTimeoutMs = ms;
}

export function forgeTimeout(): number {
  return forgeTimeoutMs;
}

/** The caller's signal, if any, combined with a timeout. */
export function boundSignal(signal: AbortSignal | null | undefined, ms = forgeTimeoutMs): AbortSignal {
  const timeout = AbortSignal.timeout(ms);
  return signal ? AbortSignal.any([signal, timeout]) : timeout;
}

/** `fetch` with the bound applied (for Octokit's `request.fetch`). */
export const timedFetch: typeof fetch = (input, init) => fetch(input, { ...init, signal: boundSignal(init?.signal) });
