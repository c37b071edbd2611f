/**
 * Edits are proven on their splices (no second parse) where the file allows it, and by re-parsing the
 * whole edited file otherwise. Properties: both proofs give the same outcome byte for byte on
 * generated files of every layout, and the splice proof's core claim — a scalar source that reads
 * back in a one-entry document reads back the same inside any real document at that position —
 * holds for hostile scalar sources.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Document, isMap, isScalar, isSeq, parseAllDocuments } from 'yaml';
import { editImage } from '../../src/core/edit-image.js';
import type { EditOutcome } from '../../src/core/edit-image.js';
import { scalarReadsBack } from '../../src/core/yaml/splice.js';
import type { FlowScalarType, ScalarPosition } from '../../src/core/yaml/splice.js';

const REPO = 'registry.example.com/team/web';
const web = { image: 'web', repository: REPO };
const digestArb = fc.stringMatching(/^[0-9a-f]{64}$/).map((h) => `sha256:${h}`);
const tagArb = fc.oneof(fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9._-]{0,12}$/), fc.constantFrom('1.10', '0755', '1e3', 'yes', 'null', '0x1F', '12', 'true'));
type Change = { tag: string; digestMode: 'ignore' } | { tag: string; digest: string; digestMode: 'pin' };
const changeArb: fc.Arbitrary<Change> = fc.oneof(
  tagArb.map((tag): Change => ({ tag, digestMode: 'ignore' })),
  fc.tuple(tagArb, digestArb).map(([tag, digest]): Change => ({ tag, digest, digestMode: 'pin' })),
);

function withoutProof(out: EditOutcome): unknown {
  if (out.status !== 'changed') return out;
  const { proof: _proof, ...rest } = out;
  return rest;
}

const styleArb = fc.constantFrom('plain', 'single', 'double');
const quote = (v: string, style: string): string => (style === 'plain' ? v : style === 'single' ? `'${v}'` : JSON.stringify(v));

/** Files the targets read, in the shapes and layouts people write them. */
const fileArb: fc.Arbitrary<{ text: string; selector: typeof web & { key?: string; digestKey?: string } }> = fc.oneof(
  // A workload laid out by the yaml library in any style, with other content around it.
  fc
    .record({
      extra: fc.dictionary(fc.stringMatching(/^x[a-z]{0,5}$/), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
      oldTag: fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9._-]{0,10}$/),
      indent: fc.constantFrom(2, 4),
      defaultStringType: fc.constantFrom<'PLAIN' | 'QUOTE_DOUBLE' | 'QUOTE_SINGLE'>('PLAIN', 'QUOTE_DOUBLE', 'QUOTE_SINGLE'),
      collectionStyle: fc.constantFrom<'any' | 'block' | 'flow'>('any', 'block', 'flow'),
      crlf: fc.boolean(),
    })
    .map(({ extra, oldTag, crlf, ...layout }) => {
      const doc = new Document({ ...extra, spec: { template: { spec: { containers: [{ name: 'web', image: `${REPO}:${oldTag}` }, { name: 'side', image: 'nginx:1' }] } } } });
      const text = doc.toString(layout);
      return { text: crlf ? text.replace(/\n/g, '\r\n') : text, selector: web };
    }),
  // A kustomization, with or without tag and digest, quoted any way, with comments and anchors.
  fc
    .record({ style: styleArb, tag: fc.option(fc.constantFrom('1.4.2', '1.10', 'v2'), { nil: undefined }), digest: fc.option(digestArb, { nil: undefined }), comment: fc.boolean(), anchor: fc.boolean(), flow: fc.boolean(), crlf: fc.boolean(), last: fc.boolean() })
    .map(({ style, tag, digest, comment, anchor, flow, crlf, last }) => {
      const c = comment ? ' # pinned' : '';
      const entry = flow
        ? [`  - {name: ${REPO}${tag !== undefined ? `, newTag: ${quote(tag, style)}` : ''}${digest !== undefined ? `, digest: ${quote(digest, style)}` : ''}}${c}`]
        : [
            `  - name: ${REPO}${c}`,
            ...(tag !== undefined ? [`    newTag: ${anchor ? '&t ' : ''}${quote(tag, style)}${c}`] : []),
            ...(digest !== undefined ? [`    digest: ${quote(digest, style)}`] : []),
          ];
      const lines = ['apiVersion: kustomize.config.k8s.io/v1beta1', 'kind: Kustomization', 'images:', '  - name: nginx', '    newTag: "1"', ...entry];
      if (!last) lines.push('resources:', '  - ../base', ...(anchor && tag !== undefined && !flow ? ['labels: {t: *t}'] : []));
      const text = lines.join(crlf ? '\r\n' : '\n') + (last && comment ? '' : crlf ? '\r\n' : '\n');
      return { text, selector: web };
    }),
  // Helm values, by key, with a digest key present or not.
  fc.record({ style: styleArb, digestLine: fc.boolean(), flow: fc.boolean(), crlf: fc.boolean() }).map(({ style, digestLine, flow, crlf }) => {
    const body = flow
      ? [`web:`, `  image: {repository: ${REPO}, tag: ${quote('1.4.2', style)}${digestLine ? ', digest: ""' : ''}}`]
      : ['web:', '  image:', `    repository: ${REPO}`, `    tag: ${quote('1.4.2', style)} # t`, ...(digestLine ? ['    digest: ""'] : []), '    pullPolicy: IfNotPresent'];
    return { text: body.join(crlf ? '\r\n' : '\n') + (crlf ? '\r\n' : '\n'), selector: { ...web, key: 'web.image.tag', digestKey: 'web.image.digest' } };
  }),
  // An Argo CD application's kustomize images, block or flow.
  fc.record({ style: styleArb, flow: fc.boolean(), prefix: fc.boolean() }).map(({ style, flow, prefix }) => {
    const ref = quote(`${prefix ? 'web=' : ''}${REPO}:1.4.2`, style);
    const images = flow ? [`      images: [${ref}, nginx:1]`] : ['      images:', `        - ${ref}`, '        - nginx:1'];
    return { text: ['apiVersion: argoproj.io/v1alpha1', 'kind: Application', 'spec:', '  source:', '    kustomize:', ...images, ''].join('\n'), selector: web };
  }),
);

describe('the splice proof and the full re-parse agree', () => {
  it('give the same outcome, byte for byte, for every file and change', () => {
    fc.assert(
      fc.property(fileArb, changeArb, ({ text, selector }, change) => {
        const fast = editImage(text, selector, change);
        const full = editImage(text, selector, change, { reparse: true });
        expect(withoutProof(fast)).toEqual(withoutProof(full));
        if (fast.status === 'changed') expect(editImage(fast.text, selector, change).status).toBe('unchanged');
      }),
      { numRuns: 400 },
    );
  });

  it('takes the splice proof for the usual shapes, and re-parses for the unusual ones', () => {
    const digest = 'sha256:' + 'ab'.repeat(32);
    const pin = { tag: '1.5.0', digest, digestMode: 'pin' as const };
    const proofOf = (text: string, selector = web as typeof web & { key?: string }): string | undefined => {
      const out = editImage(text, selector, pin);
      return out.status === 'changed' ? out.proof : out.status;
    };
    expect(proofOf(`spec:\n  containers:\n    - name: web\n      image: ${REPO}:1.4.2   # app\n`)).toBe('splice');
    expect(proofOf(`images:\n  - name: ${REPO}\n    newTag: "1.4.2" # pinned\n`)).toBe('splice');
    expect(proofOf(`web:\n  image:\n    tag: '1.4.2'\n`, { ...web, key: 'web.image.tag' })).toBe('splice');
    expect(proofOf(`env: [{name: A, value: "1"}]\nspec: {containers: [{name: web, image: ${REPO}:1.4.2}]}\n`)).toBe('splice');
    expect(proofOf(`spec:\n  containers:\n    - name: web\n      image:\n        ${REPO}:1.4.2\n`)).toBe('splice');
    // Compact JSON (a value right after `:`) and an explicitly tagged value: the whole file is re-parsed.
    expect(proofOf(JSON.stringify({ spec: { containers: [{ name: 'web', image: `${REPO}:1.4.2` }] } }))).toBe('reparse');
    expect(proofOf(`spec:\n  containers:\n    - name: web\n      image: !!str ${REPO}:1.4.2\n`)).toBe('reparse');
  });
});

/** A document with a slot for a scalar source at a position, and what follows it there. */
const contexts: { position: ScalarPosition; template: string; path: (string | number)[] }[] = [
  { position: 'block-map', template: 'a: 1\nk: @@ # note\nb: [x, y]\n', path: ['k'] },
  { position: 'block-map', template: 'list:\n  - name: w\n    image: @@\n  - name: z\n', path: ['list', 0, 'image'] },
  { position: 'block-map', template: 'k: &anchor @@\nuse: *anchor\n', path: ['k'] },
  { position: 'block-seq', template: 'items:\n- @@\n- last # c\n', path: ['items', 0] },
  { position: 'block-seq', template: 'items:\n  - first\n  - @@\n', path: ['items', 1] },
  { position: 'flow-map', template: 'e: {name: w, value: @@}\nn: 1\n', path: ['e', 'value'] },
  { position: 'flow-map', template: 'e: {value: @@, name: w}\n', path: ['e', 'value'] },
  { position: 'flow-map', template: 'e: {\n  value: @@ # c\n  , name: w }\n', path: ['e', 'value'] },
  { position: 'flow-seq', template: 'e: [@@, tail]\n', path: ['e', 0] },
  { position: 'flow-seq', template: 'e: [head,@@]\n', path: ['e', 1] },
  { position: 'flow-seq', template: 'e: [head, @@ ]\n', path: ['e', 1] },
];

const sourceArb = fc.stringMatching(/^[a-z0-9 :#,[\]{}'"\\&*!|>%@`?.=/-]{1,12}$/);

function setIn(obj: unknown, path: (string | number)[], value: unknown): void {
  let at = obj as Record<string | number, unknown>;
  for (const p of path.slice(0, -1)) at = at[p] as Record<string | number, unknown>;
  at[path[path.length - 1] as string | number] = value;
}

describe('a scalar source that reads back on its own reads back in place', () => {
  it('holds for hostile sources in every position, under YAML 1.2 and 1.1', () => {
    fc.assert(
      fc.property(fc.constantFrom(...contexts), sourceArb, fc.constantFrom<FlowScalarType>('PLAIN', 'QUOTE_SINGLE', 'QUOTE_DOUBLE'), ({ position, template, path }, source, type) => {
        // What the source reads as in a one-entry document of that position, if it is a string there at all.
        const one = position === 'block-map' ? `k: ${source}` : position === 'block-seq' ? `- ${source}` : position === 'flow-map' ? `{k: ${source}}` : `[${source}]`;
        const root = parseAllDocuments(one)[0]?.contents;
        const entry: unknown = isSeq(root) ? root.items[0] : isMap(root) ? root.items[0]?.value : undefined;
        const want = isScalar(entry) && typeof entry.value === 'string' ? entry.value : source;
        if (!scalarReadsBack(position, source, type, want)) return;
        for (const version of ['1.2', '1.1'] as const) {
          const safe = parseAllDocuments(template.replace('@@', 'placeholder'), { version });
          const edited = parseAllDocuments(template.replace('@@', source), { version });
          expect(edited).toHaveLength(1);
          expect(edited[0]?.errors).toEqual([]);
          const expected = safe[0]?.toJS() as unknown;
          setIn(expected, path, want);
          if (template.includes('*anchor')) (expected as Record<string, unknown>).use = want;
          expect(edited[0]?.toJS()).toEqual(expected);
        }
      }),
      { numRuns: 3000 },
    );
  });
});
