import { describe, expect, it } from 'vitest';
import { editImage, readImageVersion, verifyEdit } from '../../src/core/edit-image.js';
import { sameRepository } from '../../src/core/image-ref.js';
import { parseMarker } from '../../src/core/targets/markers.js';

const web = { image: 'web', repository: 'registry.example.com/team/web' };
const digest = 'sha256:' + 'fedcba9876543210'.repeat(4);
const before = 'images:\n  - name: registry.example.com/team/web # web\n    newTag: "1.4.2"\n';
const tagPath = { doc: 0, path: ['images', 0, 'newTag'], value: '1.5.0' };

describe('verifyEdit refuses anything but the intended value change', () => {
  it('accepts exactly the value change', () => {
    expect(verifyEdit(before, before.replace('1.4.2', '1.5.0'), [tagPath])).toBeUndefined();
  });

  const nested = 'meta:\n  owner: team\n' + before;
  const to110 = { ...tagPath, value: '1.10' };
  it.each([
    ['a comment changed', before, before.replace('# web', '# Web').replace('1.4.2', '1.5.0'), tagPath, 'bytes outside'],
    ['quotes restyled', before, before.replace('"1.4.2"', "'1.5.0'"), tagPath, 'restyle'],
    ['spacing before a comment changed', before, before.replace(' # web', '  # web').replace('1.4.2', '1.5.0'), tagPath, 'bytes outside'],
    ['indentation of another block changed', nested, nested.replace('  owner', '    owner').replace('1.4.2', '1.5.0'), { ...tagPath, path: ['images', 0, 'newTag'] }, 'bytes outside'],
    ['CRLF lost', before.replace(/\n/g, '\r\n'), before.replace('1.4.2', '1.5.0'), tagPath, 'bytes outside'],
    ['final newline dropped', before, before.replace('1.4.2', '1.5.0').slice(0, -1), tagPath, 'bytes outside'],
    ['a value that reads as a number', before, before.replace('"1.4.2"', '1.10'), to110, 'not the string 1.10'],
    ['another value changed', before, before.replace('1.4.2', '1.5.0').replace('team/web', 'team/api'), tagPath, 'document 1 would change'],
    ['a comment line added', before, before.replace('1.4.2', '1.5.0') + '# trailer\n', tagPath, 'bytes outside'],
    ['a document added', before, before.replace('1.4.2', '1.5.0') + '---\na: 1\n', tagPath, 'number of YAML documents'],
  ])('%s', (_what, original, after, value, message) => {
    expect(verifyEdit(original, after, [value])).toContain(message);
  });
});

describe('editImage refuses what it cannot do byte-exactly, with the reason', () => {
  it('refuses to add a digest to a flow-style entry instead of restyling it', () => {
    const out = editImage('images: [{name: registry.example.com/team/web, newTag: 1.4.2}]\n', web, { tag: '1.5.0', digest, digestMode: 'pin' });
    expect(out).toEqual({ status: 'refused', message: 'cannot add digest to the flow-style map at images.0 without restyling it' });
  });

  it('refuses a block-scalar image rather than rewrite it on one line', () => {
    const text = 'spec:\n  containers:\n    - name: web\n      image: |-\n        registry.example.com/team/web:1.4.2\n';
    const out = editImage(text, web, { tag: '1.5.0', digestMode: 'ignore' });
    expect(out.status).toBe('refused');
    expect(out.status === 'refused' && out.message).toContain('block scalar');
  });

  it('refuses when two rules claim one value as different parts of the image', () => {
    const text = 'images:\n  - name: registry.example.com/team/web\n    newTag: 1.4.2 # {"$baton": "web:digest"}\n';
    const out = editImage(text, web, { tag: '1.5.0', digest, digestMode: 'pin' });
    expect(out.status === 'refused' && out.message).toContain('claimed as two different parts');
  });

  it('refuses a marked value that is not an image reference', () => {
    const out = editImage('cmd: run-the-thing --fast # {"$baton": "web"}\n', web, { tag: '1.5.0', digestMode: 'ignore' });
    expect(out).toEqual({ status: 'refused', message: 'run-the-thing --fast is marked as the web image but is not an image reference' });
  });

  it('refuses to pin without a known digest', () => {
    expect(editImage(before, web, { tag: '1.5.0', digestMode: 'pin' })).toEqual({ status: 'refused', message: 'digest: pin is set but no digest is known for 1.5.0' });
  });
});

describe('readImageVersion', () => {
  it('reads the version from whichever kind holds it', () => {
    expect(readImageVersion(`image: registry.example.com/team/web:1.4.2@${digest} # {"$baton": "web"}\n`, web)).toEqual({ tag: '1.4.2', digest });
    expect(readImageVersion('web:\n  image:\n    tag: 1.10\n', { ...web, key: 'web.image.tag' })).toEqual({ tag: '1.10' });
    expect(readImageVersion('spec:\n  containers:\n    - image: registry.example.com/team/api:1.0.0\n', web)).toBeUndefined();
  });
});

describe('parseMarker', () => {
  it.each([
    ['# {"$baton": "web"}', { image: 'web', role: 'ref' }],
    ['#{"$baton":"web:tag"}', { image: 'web', role: 'tag' }],
    ['# {"$baton": "web:digest"}', { image: 'web', role: 'digest' }],
    ['# {"$imagepolicy": "flux-system:web"}', { image: 'web', role: 'ref' }],
    ['# {"$imagepolicy": "flux-system:web:tag"}', { image: 'web', role: 'tag' }],
    ['# {"$imagepolicy": "flux-system:web:name"}', { image: 'web', role: 'name' }],
    ['# {"$imagepolicy": "flux-system:web:digest"}', { image: 'web', role: 'digest' }],
    ['# {"$baton": "web:name"}', undefined],
    ['# {"$imagepolicy": "web"}', undefined],
    ['# {"$baton": "web"} and more', undefined],
    ['# image: web', undefined],
  ])('%s', (comment, marker) => {
    expect(parseMarker(comment)).toEqual(marker);
  });
});

describe('editImage writes only well-formed tags and digests', () => {
  it.each([
    ['1.5.0\n    evil: true', undefined],
    ['-leading-dash', undefined],
    ['1.5.0', 'sha256:short'],
  ])('refuses tag %j with digest %j', (tag, badDigest) => {
    const out = editImage(before, web, { tag, ...(badDigest !== undefined && { digest: badDigest }), digestMode: badDigest !== undefined ? 'pin' : 'ignore' });
    expect(out.status).toBe('refused');
  });
});

describe('image references', () => {
  it('treats Docker Hub spellings and host case as the same repository, paths and ports as different', () => {
    expect(sameRepository('nginx', 'docker.io/library/nginx')).toBe(true);
    expect(sameRepository('library/nginx', 'index.docker.io/library/nginx')).toBe(true);
    expect(sameRepository('Registry.Example.com/team/web', 'registry.example.com/team/web')).toBe(true);
    expect(sameRepository('localhost:5000/team/web', 'localhost:5001/team/web')).toBe(false);
    expect(sameRepository('bitnami/nginx', 'nginx')).toBe(false);
  });
});
