import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jsonDeeperThan } from '../../src/sources/json-limits.js';

/** The plain definition: every byte looked at, strings tracked with their escapes. */
function reference(raw: Uint8Array, maxDepth: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i];
    if (inString) {
      if (b === 0x5c) i++;
      else if (b === 0x22) inString = false;
    } else if (b === 0x22) inString = true;
    else if (b === 0x5b || b === 0x7b) {
      if (++depth > maxDepth) return true;
    } else if (b === 0x5d || b === 0x7d) depth--;
  }
  return false;
}

const bytes = (s: string): Buffer => Buffer.from(s, 'utf8');

describe('the JSON nesting bound checked before parsing', () => {
  it('counts brackets outside strings only, whatever the strings hold', () => {
    expect(jsonDeeperThan(bytes('[[[1]]]'), 2)).toBe(true);
    expect(jsonDeeperThan(bytes('[[[1]]]'), 3)).toBe(false);
    expect(jsonDeeperThan(bytes(JSON.stringify({ a: '[[[[{{{{', b: ['x\\"[[[['] })), 2)).toBe(false);
    // An escaped backslash ends before the quote: the quote closes the string and the brackets after it count.
    expect(jsonDeeperThan(bytes('["a\\\\", [[[1]]]]'), 3)).toBe(true);
    // An escaped quote does not close the string.
    expect(jsonDeeperThan(bytes('["a\\" [[[[", 1]'), 3)).toBe(false);
    expect(jsonDeeperThan(bytes('"unterminated [[[['), 1)).toBe(false);
  });

  it('agrees with the byte-by-byte definition on real JSON and on arbitrary bytes', () => {
    const json = fc.jsonValue({ maxDepth: 8 }).map((v) => bytes(JSON.stringify(v)));
    const noise = fc.array(fc.constantFrom('[', ']', '{', '}', '"', '\\', 'a', ',', ':', ' '), { maxLength: 200 }).map((a) => bytes(a.join('')));
    fc.assert(
      fc.property(fc.oneof(json, noise), fc.integer({ min: 0, max: 6 }), (raw, max) => {
        expect(jsonDeeperThan(raw, max)).toBe(reference(raw, max));
      }),
      { numRuns: 2_000 },
    );
  });
});
