/**
 * Property: for generated manifests and values files that reference the image (in any quoting,
 * indentation, line ending and comment layout), a bump changes nothing but the targeted values —
 * checked by re-parsing and line by line — and applying the same bump twice is a no-op.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Document, parseAllDocuments } from 'yaml';
import { editImage } from '../../src/core/edit-image.js';

const REPO = 'registry.example.com/team/web';
const web = { image: 'web', repository: REPO };

const tagArb = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9._-]{0,15}$/),
  // Tags a YAML reader would take for something else when written plain.
  fc.constantFrom('1.10', '2024.01', '0755', '1e3', 'true', 'yes', 'NO', 'null', '0x1F', '1_000', '12'),
);
const digestArb = fc.stringMatching(/^[0-9a-f]{64}$/).map((h) => `sha256:${h}`);
const styleArb = fc.constantFrom<'plain' | 'single' | 'double'>('plain', 'single', 'double');
const commentArb = fc.option(fc.stringMatching(/^[A-Za-z0-9 ._-]{0,16}$/), { nil: undefined });

interface Container {
  name: string;
  /** The name as written, and whether it is this image. */
  repo: string;
  ours: boolean;
  tag?: string;
  digest?: string;
  style: 'plain' | 'single' | 'double';
  comment?: string;
}

const containerArb: fc.Arbitrary<Container> = fc.record({
  name: fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/),
  pick: fc.constantFrom(
    { repo: REPO, ours: true },
    { repo: 'registry.example.com/team/web-worker', ours: false },
    { repo: 'nginx', ours: false },
    { repo: 'localhost:5000/team/web', ours: false },
  ),
  tag: fc.option(fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9._-]{0,10}$/), { nil: undefined }),
  digest: fc.option(digestArb, { nil: undefined }),
  style: styleArb,
  comment: commentArb,
}).map(({ pick, ...c }) => ({ ...c, ...pick, ...(c.tag === undefined && c.digest === undefined && { tag: 'latest' }) }));

function quote(value: string, style: Container['style']): string {
  return style === 'plain' ? value : style === 'single' ? `'${value}'` : JSON.stringify(value);
}

function refOf(c: Pick<Container, 'repo' | 'tag' | 'digest'>): string {
  return `${c.repo}${c.tag !== undefined ? `:${c.tag}` : ''}${c.digest !== undefined ? `@${c.digest}` : ''}`;
}

interface Manifest {
  indent: number;
  eol: '\n' | '\r\n';
  finalNewline: boolean;
  containers: Container[];
  initContainers: Container[];
  leadingComment: boolean;
  blankLines: boolean;
  replicas: number;
  extraDoc: boolean;
}

const manifestArb: fc.Arbitrary<Manifest> = fc.record({
  indent: fc.constantFrom(2, 4),
  eol: fc.constantFrom<'\n' | '\r\n'>('\n', '\r\n'),
  finalNewline: fc.boolean(),
  containers: fc.array(containerArb, { minLength: 1, maxLength: 4 }),
  initContainers: fc.array(containerArb, { maxLength: 2 }),
  leadingComment: fc.boolean(),
  blankLines: fc.boolean(),
  replicas: fc.integer({ min: 0, max: 9 }),
  extraDoc: fc.boolean(),
});

function render(m: Manifest): string {
  const i = (n: number): string => ' '.repeat(m.indent * n);
  const lines: string[] = [];
  if (m.leadingComment) lines.push('# managed by Baton');
  lines.push('apiVersion: apps/v1', 'kind: Deployment', 'metadata:', `${i(1)}name: web`);
  if (m.blankLines) lines.push('');
  lines.push('spec:', `${i(1)}replicas: ${m.replicas}`, `${i(1)}template:`, `${i(2)}spec:`);
  const list = (key: string, cs: Container[]): void => {
    if (cs.length === 0) return;
    lines.push(`${i(3)}${key}:`);
    for (const c of cs) {
      lines.push(`${i(3)}- name: ${c.name}`);
      lines.push(`${i(3)}  image: ${quote(refOf(c), c.style)}${c.comment !== undefined ? ` # ${c.comment}` : ''}`);
      if (m.blankLines) lines.push('');
    }
  };
  list('initContainers', m.initContainers);
  list('containers', m.containers);
  if (m.extraDoc) lines.push('---', 'apiVersion: v1', 'kind: ConfigMap', 'data:', `${i(1)}version: "1.0"`);
  return lines.join(m.eol) + (m.finalNewline ? m.eol : '');
}

type Change = { tag: string; digestMode: 'ignore' } | { tag: string; digest: string; digestMode: 'pin' };
const changeArb: fc.Arbitrary<Change> = fc.oneof(
  tagArb.map((tag): Change => ({ tag, digestMode: 'ignore' })),
  fc.tuple(tagArb, digestArb).map(([tag, digest]): Change => ({ tag, digest, digestMode: 'pin' })),
);

/** What the documents must read as after the bump, computed from the model rather than from Baton's code. */
function expectedDocs(m: Manifest, change: Change): unknown[] {
  const moved = (c: Container): string =>
    c.ours ? refOf({ repo: c.repo, tag: change.tag, ...(change.digestMode === 'pin' && { digest: change.digest }) }) : refOf(c);
  const before = parseAllDocuments(render(m)).map((d) => d.toJS() as Record<string, unknown>);
  const deployment = before[0] as { spec: { template: { spec: Record<string, { name: string; image: string }[]> } } };
  const podSpec = deployment.spec.template.spec;
  if (m.initContainers.length > 0) podSpec.initContainers = m.initContainers.map((c) => ({ name: c.name, image: moved(c) }));
  podSpec.containers = m.containers.map((c) => ({ name: c.name, image: moved(c) }));
  return before;
}

describe('editImage on generated manifests', () => {
  it('changes only the image values of this repository, and a second identical bump is a no-op', () => {
    fc.assert(
      fc.property(manifestArb, changeArb, (m, change) => {
        const before = render(m);
        const out = editImage(before, web, change);
        const ours = [...m.containers, ...m.initContainers].filter((c) => c.ours);
        if (ours.length === 0) {
          expect(out.status).toBe('not-found');
          return;
        }
        expect(out.status === 'changed' || out.status === 'unchanged').toBe(true);
        const after = out.status === 'changed' ? out.text : before;
        // Re-parsed, the documents are the old ones with exactly the image values moved.
        expect(parseAllDocuments(after).map((d) => d.toJS() as unknown)).toEqual(expectedDocs(m, change));
        // Line by line, only lines holding this repository's image differ.
        const a = before.split('\n');
        const b = after.split('\n');
        expect(b.length).toBe(a.length);
        a.forEach((line, n) => {
          // The lines that differ are image lines naming exactly this repository (not web-worker).
          if (line !== b[n]) expect(line).toMatch(new RegExp(`image: ["']?${REPO.replace(/\./g, '\\.')}[:@"' \r]|image: ${REPO.replace(/\./g, '\\.')}$`));
        });
        expect(editImage(after, web, change).status).toBe('unchanged');
      }),
      { numRuns: 300 },
    );
  });
});

interface Values {
  eol: '\n' | '\r\n';
  style: Container['style'];
  tag: string;
  comment?: string;
  digestLine: boolean;
  siblings: string[];
}

const valuesArb: fc.Arbitrary<Values> = fc.record({
  eol: fc.constantFrom<'\n' | '\r\n'>('\n', '\r\n'),
  style: styleArb,
  tag: tagArb,
  comment: commentArb,
  digestLine: fc.boolean(),
  siblings: fc.array(fc.stringMatching(/^[a-z][a-zA-Z]{0,8}$/), { maxLength: 3 }),
});

function renderValues(v: Values): string {
  // A plain tag that would not read as a string would be a different file: quote it like a careful author.
  const readsAsItself = (['1.2', '1.1'] as const).every((version) => parseAllDocuments(`t: ${v.tag}`, { version })[0]?.get('t') === v.tag);
  const style = v.style === 'plain' && !readsAsItself ? 'double' : v.style;
  const lines = [
    'web:',
    '  image:',
    `    repository: ${REPO}`,
    `    tag: ${quote(v.tag, style)}${v.comment !== undefined ? ` # ${v.comment}` : ''}`,
    ...(v.digestLine ? ['    digest: ""'] : []),
    ...[...new Set(v.siblings)].filter((s) => !['repository', 'tag', 'digest'].includes(s)).map((s) => `    ${s}: keep-${s}`),
  ];
  return lines.join(v.eol) + v.eol;
}

describe('editImage on generated Helm values', () => {
  it('sets the tag (and digest) so that they read back as the exact strings, touching nothing else', () => {
    const selector = { ...web, key: 'web.image.tag', digestKey: 'web.image.digest' };
    fc.assert(
      fc.property(valuesArb, changeArb, (v, change) => {
        const before = renderValues(v);
        const out = editImage(before, selector, change);
        expect(out.status === 'changed' || out.status === 'unchanged').toBe(true);
        const after = out.status === 'changed' ? out.text : before;
        // YAML 1.2 and 1.1 readers (Helm is 1.1) both see the new strings and nothing else moved.
        for (const version of ['1.2', '1.1'] as const) {
          const want = parseAllDocuments(before, { version })[0]?.toJS() as { web: { image: Record<string, string> } };
          want.web.image.tag = change.tag;
          if (change.digestMode === 'pin') want.web.image.digest = change.digest;
          expect(parseAllDocuments(after, { version })[0]?.toJS()).toEqual(want);
        }
        const added = change.digestMode === 'pin' && !v.digestLine ? 1 : 0;
        expect(after.split('\n').length).toBe(before.split('\n').length + added);
        expect(after.split(v.eol).length).toBe(before.split(v.eol).length + added);
        expect(editImage(after, selector, change).status).toBe('unchanged');
      }),
      { numRuns: 300 },
    );
  });
});

describe('editImage inside arbitrary surrounding YAML', () => {
  it('only the reference changes, whatever else the document holds and however the library laid it out', () => {
    const extraArb = fc.dictionary(fc.stringMatching(/^x[a-z]{0,6}$/), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 5 });
    const layoutArb = fc.record({
      indent: fc.constantFrom(2, 4),
      defaultStringType: fc.constantFrom<'PLAIN' | 'QUOTE_DOUBLE' | 'QUOTE_SINGLE'>('PLAIN', 'QUOTE_DOUBLE', 'QUOTE_SINGLE'),
      collectionStyle: fc.constantFrom<'any' | 'block' | 'flow'>('any', 'block', 'flow'),
      crlf: fc.boolean(),
    });
    fc.assert(
      fc.property(extraArb, extraArb, layoutArb, fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9._-]{0,10}$/), changeArb, (head, tail, layout, oldTag, change) => {
        const oldRef = `${REPO}:${oldTag}`;
        const doc = new Document({ ...head, spec: { containers: [{ name: 'web', image: oldRef }] }, ...tail });
        let before = doc.toString({ indent: layout.indent, defaultStringType: layout.defaultStringType, collectionStyle: layout.collectionStyle });
        if (layout.crlf) before = before.replace(/\n/g, '\r\n');
        fc.pre(before.split(oldRef).length === 2);
        const newRef = `${REPO}:${change.tag}${change.digestMode === 'pin' ? `@${change.digest}` : ''}`;
        const out = editImage(before, web, change);
        if (newRef === oldRef) {
          expect(out.status).toBe('unchanged');
          return;
        }
        expect(out.status).toBe('changed');
        if (out.status !== 'changed') return;
        // The reference's bytes are the only ones that differ.
        expect(out.text).toBe(before.split(oldRef).join(newRef));
        expect(editImage(out.text, web, change).status).toBe('unchanged');
      }),
      { numRuns: 300 },
    );
  });
});
