import { describe, expect, it } from 'vitest';
import { editImage, readImageVersion } from '../../src/core/edit-image.js';

const web = { image: 'web', repository: 'registry.example.com/team/web' };

describe('kustomize images[] byte-exact edits', () => {
  it('changes only the tag and digest bytes of a CRLF file with comments, quotes and blank lines', () => {
    const before = [
      '# staging overlay\r\n',
      'apiVersion: kustomize.config.k8s.io/v1beta1\r\n',
      'kind: Kustomization\r\n',
      '\r\n',
      'resources:\r\n',
      '  - ../../base   # shared base\r\n',
      '\r\n',
      'images:\r\n',
      '  # the web front end\r\n',
      '  - name: registry.example.com/team/web\r\n',
      "    newTag: '1.4.2'   # bumped by Baton\r\n",
      '    digest: "sha256:' + 'a'.repeat(64) + '"\r\n',
      '\r\n',
      '  - name: registry.example.com/team/api\r\n',
      '    newTag: "2.0.0"\r\n',
    ].join('');
    const digest = 'sha256:' + 'b'.repeat(64);
    const out = editImage(before, web, { tag: '1.5.0', digest, digestMode: 'pin' });
    expect(out.status).toBe('changed');
    if (out.status !== 'changed') return;
    const expected = before.replace("'1.4.2'", "'1.5.0'").replace('a'.repeat(64), 'b'.repeat(64));
    expect(out.text).toBe(expected);
    expect(out.from).toEqual({ tag: '1.4.2', digest: 'sha256:' + 'a'.repeat(64) });
  });

  it('keeps a tag that YAML would read as a number a string', () => {
    const before = 'images:\n- name: registry.example.com/team/web\n  newTag: 1.9.0\n';
    const out = editImage(before, web, { tag: '1.10', digestMode: 'ignore' });
    expect(out.status === 'changed' && out.text).toBe('images:\n- name: registry.example.com/team/web\n  newTag: "1.10"\n');
  });

  it('adds a digest line with the same indentation when pinning an entry that has none', () => {
    const before = 'images:\n  - name: registry.example.com/team/web\n    newTag: 1.4.2 # keep\n  - name: other\n';
    const digest = 'sha256:' + 'c'.repeat(64);
    const out = editImage(before, web, { tag: '1.5.0', digest, digestMode: 'pin' });
    expect(out.status === 'changed' && out.text).toBe(
      `images:\n  - name: registry.example.com/team/web\n    newTag: 1.5.0 # keep\n    digest: ${digest}\n  - name: other\n`,
    );
  });

  it('matches newName, not the placeholder name, and leaves other images alone', () => {
    const before = 'images:\n  - name: web\n    newName: registry.example.com/team/web\n    newTag: "1.0.0"\n  - name: registry.example.com/team/web-worker\n    newTag: "1.0.0"\n';
    const out = editImage(before, web, { tag: '1.1.0', digestMode: 'ignore' });
    expect(out.status === 'changed' && out.text).toBe(before.replace('newTag: "1.0.0"\n  - name', 'newTag: "1.1.0"\n  - name'));
  });

  it('is a no-op when the file already holds the version, and says not-found for other files', () => {
    const before = 'images:\n  - name: registry.example.com/team/web\n    newTag: 1.5.0\n';
    expect(editImage(before, web, { tag: '1.5.0', digestMode: 'ignore' }).status).toBe('unchanged');
    expect(editImage('images:\n  - name: nginx\n    newTag: "1"\n', web, { tag: '1.5.0', digestMode: 'ignore' }).status).toBe('not-found');
    expect(readImageVersion(before, web)).toEqual({ tag: '1.5.0' });
  });

  it('refuses to pin without a digest, and refuses invalid YAML', () => {
    const before = 'images:\n  - name: registry.example.com/team/web\n    newTag: 1.5.0\n';
    expect(editImage(before, web, { tag: '1.6.0', digestMode: 'pin' })).toMatchObject({ status: 'refused' });
    expect(editImage('images: [\n', web, { tag: '1.6.0', digestMode: 'ignore' })).toMatchObject({ status: 'refused' });
  });
});
