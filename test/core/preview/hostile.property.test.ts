/** Hostile branch names and titles: names stay valid, distinct and stable; values round-trip through YAML. */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import type { EnsurePreview } from '../../../src/core/intent.js';
import { branchSlug, isDnsLabel, previewName } from '../../../src/core/preview/name.js';
import { plan } from '../../../src/core/plan.js';
import { route } from '../../../src/core/route.js';
import { SHA, TEMPLATE, mrEvent, table } from './fixtures.js';

const HOSTILE = [
  'feature/ÜBER--x',
  'x'.repeat(120),
  'a:b#c\'"{}',
  'release/1.0',
  'release-1.0',
  'feature/very-long-shared-prefix-that-goes-on-and-on-and-on-A',
  'feature/very-long-shared-prefix-that-goes-on-and-on-and-on-B',
  'line one\n---\nkind: Secret',
  '{{name}}',
  '- item',
  '&anchor *alias !!tag',
  '   ',
  '',
  'null',
  '123',
  '"',
  '\t\r\n',
];

const text = fc.oneof(fc.constantFrom(...HOSTILE), fc.string({ unit: 'binary', maxLength: 200 }), fc.string({ unit: fc.constantFrom('-', '/', ':', '#', '{', '}', '"', "'", '\n', 'a', 'Ü', ' ', '.', '_'), maxLength: 80 }));

describe('hostile names and titles (property)', () => {
  it('branch slugs are DNS-1123 labels, stable, and distinct for distinct branches', () => {
    fc.assert(
      fc.property(text, text, (a, b) => {
        const sa = branchSlug(a);
        expect(isDnsLabel(sa), JSON.stringify([a, sa])).toBe(true);
        expect(branchSlug(a)).toBe(sa);
        if (a !== b) expect(branchSlug(b)).not.toBe(sa);
      }),
      { numRuns: 500 },
    );
    const slugs = HOSTILE.map(branchSlug);
    expect(new Set(slugs).size).toBe(HOSTILE.length);
  });

  it('preview names are labels of at most 63 characters, one per (image, MR number)', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,62}$/), fc.integer({ min: 1, max: 2 ** 31 }), fc.integer({ min: 1, max: 2 ** 31 }), (image, n, m) => {
        const name = previewName(image, n);
        expect(isDnsLabel(name), name).toBe(true);
        expect(previewName(image, n)).toBe(name);
        if (n !== m) expect(previewName(image, m)).not.toBe(name);
      }),
    );
  });

  it('the rendered YAML parses to one document and every hostile value round-trips exactly', () => {
    fc.assert(
      fc.property(text, text, text, (title, branch, author) => {
        const intents = route(mrEvent('opened', { title, headBranch: branch, author }), table()).intents.map((i) => (i.type === 'ensure-preview' ? ({ ...i, build: 'confirmed' } satisfies EnsurePreview) : i));
        const cs = plan(intents, { 'templates/preview-app.yaml': TEMPLATE, 'apps/web-pr-42.yaml': null });
        const change = cs.changes[0];
        expect(change?.type).toBe('write');
        if (change?.type !== 'write') return;
        const docs = parseAllDocuments(change.contents);
        expect(docs).toHaveLength(1);
        const app = docs[0]?.toJS() as { kind: string; metadata: { name: string; labels: Record<string, string>; annotations: Record<string, string> }; spec: { destination: { namespace: string } } };
        expect(app.kind).toBe('Application');
        expect(app.metadata.name).toBe('web-pr-42');
        expect(app.metadata.annotations['title']).toBe(title);
        expect(app.metadata.annotations['branch']).toBe(branch);
        expect(app.metadata.annotations['author']).toBe(author);
        expect(app.metadata.labels['branch']).toBe(branchSlug(branch));
        expect(app.spec.destination.namespace).toBe('web-pr-42');
        expect(Object.keys(app.metadata).sort()).toEqual(['annotations', 'finalizers', 'labels', 'name', 'namespace']);
        // The commit subject carries no stranger's text.
        expect(cs.message.split('\n')[0]).toBe(`Preview web-pr-42 to web ${SHA.slice(0, 7)}`);
      }),
      { numRuns: 300 },
    );
  });
});
