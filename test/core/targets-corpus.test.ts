/**
 * The target corpus: realistic files before and after one bump, written by hand. Each edit must
 * produce the `after` bytes exactly; refusals and misses must leave the file as it was.
 */

import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { editImage, readImageVersion } from '../../src/core/edit-image.js';

const root = fileURLToPath(new URL('../fixtures/targets/', import.meta.url));

const CaseSchema = z.strictObject({
  title: z.string(),
  selector: z.strictObject({ image: z.string(), repository: z.string(), key: z.string().optional(), digestKey: z.string().optional() }),
  change: z.strictObject({ tag: z.string(), digest: z.string().optional(), digestMode: z.enum(['pin', 'ignore']) }),
  expect: z.enum(['changed', 'unchanged', 'not-found', 'refused']),
  reason: z.string().optional(),
});

const cases = readdirSync(root, { withFileTypes: true })
  .filter((e) => e.isDirectory())
  .map((e) => e.name)
  .sort()
  .map((name) => {
    const dir = join(root, name);
    return {
      name,
      spec: CaseSchema.parse(JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8'))),
      before: readFileSync(join(dir, 'before.yaml'), 'utf8'),
      after: readFileSync(join(dir, 'after.yaml'), 'utf8'),
    };
  });

describe('target corpus', () => {
  it('has at least 40 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
  });

  it.each(cases)('$name: $spec.title', ({ spec, before, after }) => {
    const out = editImage(before, spec.selector, spec.change);
    expect(out.status).toBe(spec.expect);
    if (out.status === 'changed') {
      expect(out.text).toBe(after);
      expect(after).not.toBe(before);
      // Applying the same bump to the result is a no-op, and the result reads back as the new version.
      expect(editImage(out.text, spec.selector, spec.change).status).toBe('unchanged');
      expect(readImageVersion(out.text, spec.selector)?.tag).toBe(spec.change.tag);
    } else {
      // Nothing is written for a refusal, a miss, or a file already at the version.
      expect(after).toBe(before);
    }
    if (out.status === 'refused') expect(out.message).toContain(spec.reason ?? '');
  });

  it('keeps CRLF fixtures CRLF (the checkout did not convert them)', () => {
    const crlf = cases.filter((c) => c.name.includes('crlf'));
    expect(crlf.length).toBeGreaterThanOrEqual(3);
    for (const c of crlf) expect(c.after.split('\n').slice(0, -1).every((l) => l.endsWith('\r'))).toBe(true);
  });
});
