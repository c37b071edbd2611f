/** Limits checked on a webhook body before JSON.parse, in one linear pass over the bytes. */

export const DEFAULT_MAX_JSON_DEPTH = 32;

/**
 * Whether `raw` nests arrays/objects deeper than `maxDepth`. Brackets inside strings do not count;
 * the scan does not validate JSON (JSON.parse does that next), it only bounds what parsing may build.
 */
export function jsonDeeperThan(raw: Uint8Array, maxDepth: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i];
    if (inString) {
      if (b === 0x5c) i++; // backslash: skip the escaped byte
      else if (b === 0x22) inString = false;
    } else if (b === 0x22) inString = true;
    else if (b === 0x5b || b === 0x7b) {
      if (++depth > maxDepth) return true;
    } else if (b === 0x5d || b === 0x7d) depth--;
  }
  return false;
}
