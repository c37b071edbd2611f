/** Order statistics for benchmark samples (NaN for none). */

/** The value at fraction `q` (0–1) of the sorted samples, nearest rank from below. */
export function quantile(samples: readonly number[], q: number): number {
  const sorted = [...samples].sort((x, y) => x - y);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] ?? NaN;
}

export const median = (samples: readonly number[]): number => quantile(samples, 0.5);
