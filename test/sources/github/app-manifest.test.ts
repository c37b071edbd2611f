/** app.yml must subscribe to exactly the events the GitHub source handles, with the least permissions that deliver them. */

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { githubSource } from '../../../src/sources/github/index.js';

const manifest = parse(readFileSync(new URL('../../../app.yml', import.meta.url), 'utf8')) as {
  default_events: string[];
  default_permissions: Record<string, string>;
  hook_attributes: { url: string };
  public: boolean;
};

describe('app.yml', () => {
  it('subscribes to the events the source normalizes, and nothing else', () => {
    expect([...manifest.default_events].sort()).toEqual(['check_suite', 'issue_comment', 'package', 'pull_request', 'push', 'registry_package', 'workflow_run']);
    const source = githubSource({ selfLogins: [] });
    for (const event of manifest.default_events) {
      const d = { headers: { 'x-github-event': event }, query: {}, rawBody: Buffer.alloc(0), receivedAt: '' };
      // Every subscribed event reaches its own parser (which refuses an empty body), none falls through as "of no interest".
      expect(() => source.parse({}, d), event).toThrow();
    }
  });

  it('asks for the least permissions, write only where Baton writes', () => {
    expect(manifest.default_permissions).toEqual({
      contents: 'write',
      pull_requests: 'write',
      issues: 'write',
      statuses: 'write',
      checks: 'read',
      actions: 'read',
      metadata: 'read',
      packages: 'read',
    });
    expect(manifest.hook_attributes.url).toMatch(/\/webhooks\/github$/);
    expect(manifest.public).toBe(false);
  });
});
