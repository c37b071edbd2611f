/** Limits checked on a webhook body before JSON.parse, in one linear pass over the bytes. */

export const DEFAULT_MAX_JSON_DEPTH = 32;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * Whether `raw` nests arrays/objects deeper than `maxDepth`. Brackets inside strings do not count;
 * the scan does not validate JSON (JSON.parse does that next), it only bounds what parsing may build.
 *
 * Strings, most of a webhook's bytes (URLs, messages), are skipped with `indexOf` (memchr) from one
 * quote to the next; a quote preceded by an odd run of backslashes is escaped. Each run of
 * backslashes lies between two consecutive quotes and is looked at once, so the scan stays linear.
 */
export function jsonDeeperThan(raw: Uint8Array, maxDepth: number): boolean {
  let depth = 0;
  const n = raw.length;
  for (let i = 0; i < n; i++) {
    const b = raw[i];
    if (b === QUOTE) {
      let from = i + 1;
      for (;;) {
        const q = raw.indexOf(QUOTE, from);
        if (q < 0) return false; // unterminated string: nothing after it nests, and JSON.parse refuses it
        let k = q - 1;
        while (k > i && raw[k] === BACKSLASH) k--;
        if ((q - 1 - k) % 2 === 0) {
          i = q;
          break;
        }
        from = q + 1;
      }
    } else if (b === 0x5b || b === 0x7b) {
      if (++depth > maxDepth) return true;
    } else if (b === 0x5d || b === 0x7d) depth--;
  }
  return false;
}
