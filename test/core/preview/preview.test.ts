import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import type { EnsurePreview, Intent } from '../../../src/core/intent.js';
import { isDnsLabel, previewName, branchSlug } from '../../../src/core/preview/name.js';
import { previewCommand, routeBuildReady } from '../../../src/core/preview/route.js';
import { pathsOf, plan } from '../../../src/core/plan.js';
import { route } from '../../../src/core/route.js';
import { SHA, SHA2, TEMPLATE, mrEvent, table } from './fixtures.js';

const files = (extra: Record<string, string | null> = {}): Record<string, string | null> => ({ 'templates/preview-app.yaml': TEMPLATE, 'apps/web-pr-42.yaml': null, ...extra });
const confirmed = (intents: Intent[]): Intent[] => intents.map((i) => (i.type === 'ensure-preview' ? { ...i, build: 'confirmed' } : i));
const ensure = (intents: Intent[]): EnsurePreview => {
  const i = intents.find((x): x is EnsurePreview => x.type === 'ensure-preview');
  if (!i) throw new Error('no ensure-preview intent');
  return i;
};

describe('preview names', () => {
  it('is <image>-pr-<number> for a clean image name, and a hashed label otherwise', () => {
    expect(previewName('web', 42)).toBe('web-pr-42');
    for (const image of ['9lives', 'my_app', 'a'.repeat(63), '_']) {
      const n = previewName(image, 123456);
      expect(isDnsLabel(n), n).toBe(true);
      expect(n.endsWith('-pr-123456')).toBe(true);
    }
    expect(previewName('my_app', 1)).not.toBe(previewName('my-app', 1));
  });

  it('slugs branches to labels, hashing the original when the slug differs', () => {
    expect(branchSlug('main')).toBe('main');
    expect(branchSlug('feature/ÜBER--x')).toMatch(/^feature-uber-x-[0-9a-f]{8}$/);
    expect(branchSlug('release/1.0')).not.toBe(branchSlug('release-1.0'));
    expect(branchSlug('release-1.0')).toMatch(/^release-1-0-[0-9a-f]{8}$/);
    expect(isDnsLabel(branchSlug('x'.repeat(120)))).toBe(true);
    expect(isDnsLabel(branchSlug('123'))).toBe(true);
  });
});

describe('routing merge request events to preview intents', () => {
  it('opened → ensure (build unchecked); closed and merged → remove', () => {
    const opened = route(mrEvent('opened'), table());
    expect(opened.intents).toHaveLength(1);
    expect(ensure(opened.intents)).toMatchObject({ name: 'web-pr-42', path: 'apps/web-pr-42.yaml', tag: SHA.slice(0, 7), build: 'unchecked', destination: { branch: 'previews', write: 'commit' } });
    expect(route(mrEvent('closed'), table()).intents).toMatchObject([{ type: 'remove-preview', reason: 'closed', path: 'apps/web-pr-42.yaml' }]);
    expect(route(mrEvent('merged'), table()).intents).toMatchObject([{ type: 'remove-preview', reason: 'merged' }]);
  });

  it('a fork MR gets nothing from events, whatever the trigger; its close still removes', () => {
    for (const action of ['opened', 'updated', 'reopened', 'labeled'] as const) {
      const r = route(mrEvent(action, { fromFork: true, labels: ['preview'], label: 'preview' }), table());
      expect(r.intents).toEqual([]);
      expect(r.notes.join()).toMatch(/fork/);
    }
    expect(route(mrEvent('closed', { fromFork: true }), table()).intents).toHaveLength(1);
  });

  it('trigger: label creates on the label and removes when it is taken off', () => {
    expect(route(mrEvent('opened'), table('label')).intents).toEqual([]);
    expect(route(mrEvent('labeled', { labels: ['preview'], label: 'preview' }), table('label')).intents).toMatchObject([{ type: 'ensure-preview' }]);
    expect(route(mrEvent('updated', { labels: ['preview'] }), table('label')).intents).toMatchObject([{ type: 'ensure-preview' }]);
    expect(route(mrEvent('unlabeled', { labels: [], label: 'preview' }), table('label')).intents).toMatchObject([{ type: 'remove-preview', reason: 'unlabeled' }]);
    expect(route(mrEvent('labeled', { labels: ['preview', 'bug'], label: 'bug' }), table('label')).intents).toEqual([]);
  });

  it('trigger: command creates nothing on open, and only moves an existing preview on push', () => {
    expect(route(mrEvent('opened'), table('command')).intents).toEqual([]);
    const pushed = ensure(route(mrEvent('updated'), table('command')).intents);
    expect(pushed.onlyIfExists).toBe(true);
    const cs = plan(confirmed([pushed]), files());
    expect(cs.changes).toEqual([]);
    expect(cs.previews).toMatchObject([{ state: 'skipped' }]);
  });

  it('a CI success on the MR head releases the preview (build still to be checked); other commits do not', () => {
    const ci = { type: 'ci-completed', source: 'github', deliveryId: 'ci-1', repo: { forge: 'github', path: 'acme/web' }, branch: 'feature/thing', defaultBranch: 'main', sha: SHA, conclusion: 'success' } as const;
    const mr = { repo: ci.repo, number: 42, title: 't', author: 'alice', headSha: SHA, headBranch: 'feature/thing', fromFork: false };
    expect(routeBuildReady(ci, [mr], table(), 'github:acme/web').intents).toMatchObject([{ type: 'ensure-preview', build: 'unchecked', sha: SHA }]);
    expect(routeBuildReady(ci, [{ ...mr, headSha: SHA2 }], table(), 'github:acme/web').intents).toEqual([]);
    expect(routeBuildReady(ci, [{ ...mr, fromFork: true }], table(), 'github:acme/web').intents).toEqual([]);
    expect(routeBuildReady({ ...ci, conclusion: 'failure' }, [mr], table(), 'github:acme/web').intents).toEqual([]);
  });
});

describe('the /baton preview command (for the ChatOps parser)', () => {
  const mr = { repo: { forge: 'github', path: 'acme/web' } as const, number: 42, title: 't', author: 'mallory', headSha: SHA2, headBranch: 'patch-1', fromFork: true };
  const base = { source: 'github', deliveryId: 'c-1' } as const;

  it('refuses a fork preview to a non-approver, and says who may', () => {
    const r = previewCommand({ ...base, action: 'preview', mr, actor: 'mallory', actorRole: 'read' }, table(), 'github:acme/web');
    expect(r).toEqual({ kind: 'reply', message: expect.stringMatching(/maintain or admin/) });
  });

  it("an approver's command creates the fork preview pinned to the reviewed head", () => {
    const r = previewCommand({ ...base, action: 'preview', mr, actor: 'maria', actorRole: 'maintain', reviewedSha: SHA }, table(), 'github:acme/web');
    if (r.kind !== 'intents') throw new Error(r.message);
    const i = ensure(r.intents);
    expect(i).toMatchObject({ sha: SHA, tag: SHA.slice(0, 7), onlyIfExists: false, cause: { actor: 'maria', sourceRef: `github:acme/web@${SHA.slice(0, 7)} (#42)` } });
    // A later push from the fork routes nothing: the preview stays on the reviewed sha.
    expect(route(mrEvent('updated', { fromFork: true, headSha: SHA2 }), table()).intents).toEqual([]);
  });

  it('destroy removes; forks: never refuses even approvers', () => {
    const r = previewCommand({ ...base, action: 'destroy', mr, actor: 'maria', actorRole: 'admin' }, table(), 'github:acme/web');
    expect(r).toMatchObject({ kind: 'intents', intents: [{ type: 'remove-preview', reason: 'command' }] });
    const never = previewCommand({ ...base, action: 'preview', mr, actor: 'maria', actorRole: 'admin' }, table('auto', '    forks: never\n'), 'github:acme/web');
    expect(never.kind).toBe('reply');
  });
});

describe('planning preview intents', () => {
  it('writes one valid Application with the MR image, the finalizer and the annotations, in one commit', () => {
    const intents = confirmed(route(mrEvent('opened'), table()).intents);
    expect(pathsOf(intents).sort()).toEqual(['apps/web-pr-42.yaml', 'templates/preview-app.yaml']);
    const cs = plan(intents, files());
    expect(cs.changes).toHaveLength(1);
    const change = cs.changes[0];
    if (change?.type !== 'write') throw new Error('expected a write');
    const app = parse(change.contents) as { metadata: { name: string; annotations: Record<string, string> }; spec: { source: { helm: { parameters: { value: string }[] } } } };
    expect(app.metadata.name).toBe('web-pr-42');
    expect(app.metadata.annotations['baton.dev/merge-request']).toBe('github:acme/web#42');
    expect(app.spec.source.helm.parameters.map((p) => p.value)).toEqual(['registry.example.com/acme/web', SHA.slice(0, 7), '42']);
    expect(cs.message.split('\n')[0]).toBe(`Preview web-pr-42 to web ${SHA.slice(0, 7)}`);
    expect(cs.message).toContain(`Baton-Source: github:acme/web@${SHA.slice(0, 7)} (#42)`);
    expect(cs.previews).toMatchObject([{ state: 'created', name: 'web-pr-42' }]);
    // Idempotent: planning on the result is empty.
    expect(plan(intents, files({ 'apps/web-pr-42.yaml': change.contents })).changes).toEqual([]);
  });

  it('a template without the finalizer gets it, and the result says so', () => {
    const bare = TEMPLATE.replace('  finalizers: [resources-finalizer.argocd.argoproj.io]\n', '');
    const cs = plan(confirmed(route(mrEvent('opened'), table()).intents), files({ 'templates/preview-app.yaml': bare }));
    const change = cs.changes[0];
    if (change?.type !== 'write') throw new Error('expected a write');
    expect((parse(change.contents) as { metadata: { finalizers: string[] } }).metadata.finalizers).toEqual(['resources-finalizer.argocd.argoproj.io']);
    expect(cs.previews?.[0]?.notes?.join()).toMatch(/added the finalizer/);
  });

  it.each([
    ['a plaintext Secret', TEMPLATE + '---\napiVersion: v1\nkind: Secret\nmetadata: {name: "{{name}}"}\nstringData: {password: hunter2}\n', /plaintext Secret/],
    ['a private key', TEMPLATE.replace('namespace: argocd', 'namespace: argocd\n  labels2: {k: "-----BEGIN RSA PRIVATE KEY-----"}'), /private key/],
    ['a GitHub token', TEMPLATE.replace('path: chart', `path: chart\n    plugin: {env: [{name: T, value: ghp_${'a'.repeat(36)}}]}`), /GitHub token/],
    ['a chart without targetRevision', TEMPLATE.replace('    path: chart\n    targetRevision: main\n', '    chart: web\n'), /targetRevision/],
    ['both server and name', TEMPLATE.replace('    server: https://kubernetes.default.svc\n', '    server: https://kubernetes.default.svc\n    name: in-cluster\n'), /exactly one of server and name/],
    ['a schema violation', TEMPLATE.replace('  project: previews\n', '  project: previews\n  syncPolicy: {automated: {prune: "yes"}}\n'), /not a valid Argo CD Application/],
    ['an unknown variable', TEMPLATE.replace('"{{title}}"', '"{{titel}}"'), /unknown variables: titel/],
    ['an unquoted placeholder', TEMPLATE.replace('"{{name}}"', '{{name}}'), /must be quoted/],
  ])('a template with %s writes nothing and says why', (_what, template, reason) => {
    const cs = plan(confirmed(route(mrEvent('opened'), table()).intents), files({ 'templates/preview-app.yaml': template }));
    expect(cs.changes).toEqual([]);
    expect(cs.previews?.[0]?.state).toBe('invalid');
    expect(cs.previews?.[0]?.message).toMatch(reason);
  });

  it('a SealedSecret or a SOPS-encrypted value passes', () => {
    const sealed = TEMPLATE + '---\napiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata: {name: "{{name}}-db"}\nspec: {encryptedData: {password: AgBy3i4OJSWK+PiTySYZZA==}}\n';
    const sops = TEMPLATE.replace('path: chart', 'path: chart\n    plugin: {env: [{name: TOKEN, value: "ENC[AES256_GCM,data:Tr7o=,iv:1=,tag:2=,type:str]"}]}');
    for (const template of [sealed, sops]) {
      const cs = plan(confirmed(route(mrEvent('opened'), table()).intents), files({ 'templates/preview-app.yaml': template }));
      expect(cs.previews?.[0]?.state, cs.previews?.[0]?.message).toBe('created');
    }
  });

  it('a waiting build writes nothing and reports "waiting for the build of <short sha>"', () => {
    const cs = plan(route(mrEvent('opened'), table()).intents.map((i) => (i.type === 'ensure-preview' ? { ...i, build: 'waiting' as const } : i)), files());
    expect(cs.changes).toEqual([]);
    expect(cs.previews).toMatchObject([{ state: 'waiting', message: `waiting for the build of ${SHA.slice(0, 7)}` }]);
  });

  it('opened then closed within one batch removes nothing that was never there; an existing file is deleted', () => {
    const intents = [...confirmed(route(mrEvent('opened'), table()).intents), ...route(mrEvent('closed'), table()).intents];
    expect(plan(intents, files()).changes).toEqual([]);
    const cs = plan(route(mrEvent('merged'), table()).intents, files({ 'apps/web-pr-42.yaml': 'x: 1\n' }));
    expect(cs.changes).toEqual([{ type: 'delete', path: 'apps/web-pr-42.yaml' }]);
    expect(cs.message.split('\n')[0]).toBe('Remove preview web-pr-42 (merged)');
  });

  it('a newer head still waiting for its build does not hold back the older head whose build exists', () => {
    const first = confirmed(route(mrEvent('opened'), table()).intents);
    const newer = route(mrEvent('updated', { headSha: SHA2 }), table()).intents.map((i) => (i.type === 'ensure-preview' ? { ...i, build: 'waiting' as const } : i));
    const cs = plan([...first, ...newer], files());
    expect(cs.changes).toHaveLength(1);
    expect(cs.previews?.map((p) => [p.state, p.sha])).toEqual([['waiting', SHA2], ['created', SHA]]);
  });

  it('a multi-document template stays multi-document', () => {
    const ns = 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: "{{namespace}}"\n---\n';
    const cs = plan(confirmed(route(mrEvent('opened'), table()).intents), files({ 'templates/preview-app.yaml': ns + TEMPLATE }));
    const change = cs.changes[0];
    if (change?.type !== 'write') throw new Error('expected a write');
    expect(parseAllDocuments(change.contents).map((d) => (d.toJS() as { kind: string }).kind)).toEqual(['Namespace', 'Application']);
  });
});

describe('the documented templates', () => {
  const docs = readFileSync(fileURLToPath(new URL('../../../docs/previews.md', import.meta.url)), 'utf8');
  const documented = [...docs.matchAll(/```yaml\n(# templates\/preview-[^\n]*\n[\s\S]*?)```/g)].map((m) => m[1] ?? '');
  const example = readFileSync(fileURLToPath(new URL('../../../examples/env-repo/templates/preview-app.yaml', import.meta.url)), 'utf8');

  it.each([...documented.map((t, i) => [`docs/previews.md template ${i + 1}`, t] as const), ['examples/env-repo template', example] as const])('%s renders to a valid preview', (_what, template) => {
    const cs = plan(confirmed(route(mrEvent('opened'), table()).intents), files({ 'templates/preview-app.yaml': template }));
    expect(cs.previews?.[0]?.message).not.toMatch(/invalid|nothing was written/);
    expect(cs.previews?.[0]?.state).toBe('created');
  });

  it('docs/previews.md has both an Argo CD and a Flux template', () => {
    expect(documented.map((t) => /kind: (Application|Kustomization)\n/.exec(t)?.[1])).toEqual(['Application', 'Kustomization']);
  });
});
