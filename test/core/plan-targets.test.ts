import { describe, expect, it } from 'vitest';
import type { SetImage } from '../../src/core/intent.js';
import { plan } from '../../src/core/plan.js';

const digest = 'sha256:' + 'fedcba9876543210'.repeat(4);

function intent(targets: SetImage['targets'], over: Partial<SetImage> = {}): SetImage {
  return {
    type: 'set-image',
    destination: { branch: 'main', write: 'commit' },
    env: 'staging',
    image: 'web',
    repository: 'registry.example.com/team/web',
    tag: '1.5.0',
    digest,
    digestMode: 'pin',
    mode: 'upgrade',
    policy: { policy: 'semver' },
    targets,
    cause: { source: 'registry/distribution', deliveryId: 'd-1' },
    ...over,
  };
}

describe('plan across target kinds', () => {
  const files = {
    'apps/web/kustomization.yaml': 'images:\n  - name: registry.example.com/team/web\n    newTag: 1.4.2\n',
    'apps/web/values.yaml': 'web:\n  image:\n    tag: "1.4.2"\n    digest: ""\n',
    'apps/web/app.yaml': 'apiVersion: argoproj.io/v1alpha1\nkind: Application\nspec:\n  source:\n    kustomize:\n      images: [registry.example.com/team/web:1.4.2]\n',
    'apps/web/flow.yaml': 'images: [{name: registry.example.com/team/web, newTag: 1.4.2}]\n',
  };

  it('writes every kind in one changeset, and reports the file it cannot write byte-exactly', () => {
    const cs = plan(
      [intent([{ file: 'apps/web/kustomization.yaml' }, { file: 'apps/web/values.yaml', key: 'web.image.tag', digestKey: 'web.image.digest' }, { file: 'apps/web/app.yaml' }, { file: 'apps/web/flow.yaml' }])],
      files,
    );
    expect(cs.changes).toEqual([
      { type: 'write', path: 'apps/web/kustomization.yaml', contents: `images:\n  - name: registry.example.com/team/web\n    newTag: 1.5.0\n    digest: ${digest}\n` },
      { type: 'write', path: 'apps/web/values.yaml', contents: `web:\n  image:\n    tag: "1.5.0"\n    digest: "${digest}"\n` },
      { type: 'write', path: 'apps/web/app.yaml', contents: files['apps/web/app.yaml'].replace('web:1.4.2', `web:1.5.0@${digest}`) },
    ]);
    expect(cs.problems).toEqual([
      { path: 'apps/web/flow.yaml', message: 'apps/web/flow.yaml was not written: cannot add digest to the flow-style map at images.0 without restyling it' },
    ]);
    expect(cs.bumps.map((b) => [b.from, b.to, b.files])).toEqual([['1.4.2', '1.5.0', ['apps/web/kustomization.yaml', 'apps/web/values.yaml', 'apps/web/app.yaml']]]);
  });

  it('plans nothing when the files already hold the version (idempotent)', () => {
    const first = plan([intent([{ file: 'apps/web/kustomization.yaml' }, { file: 'apps/web/app.yaml' }])], files);
    const after = Object.fromEntries(first.changes.flatMap((c) => (c.type === 'write' ? [[c.path, c.contents]] : [])));
    const again = plan([intent([{ file: 'apps/web/kustomization.yaml' }, { file: 'apps/web/app.yaml' }])], { ...files, ...after });
    expect(again.changes).toEqual([]);
    expect(again.skipped.map((s) => s.reason)).toEqual(['staging already runs 1.5.0']);
  });

  it('says which file holds no reference to the image', () => {
    const cs = plan([intent([{ file: 'apps/web/other.yaml' }])], { 'apps/web/other.yaml': '# image: registry.example.com/team/web:1.4.2\nkind: ConfigMap\n' });
    expect(cs.problems).toEqual([{ path: 'apps/web/other.yaml', message: 'no reference to registry.example.com/team/web found in apps/web/other.yaml' }]);
  });
});
