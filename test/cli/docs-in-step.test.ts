/**
 * What the docs and shipped files promise, kept in step with the code: the GitHub App's permissions
 * derive from the REST routes the adapter calls (categorised by GitHub's published OpenAPI
 * description) and the events it subscribes to; the container image refuses to run the demo by
 * accident; the CI snippets in docs are the ones in examples/ci and run `baton validate --repo`;
 * the Node versions dependencies declare are documented; no user doc cites a document users lack.
 */

import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import semver from 'semver';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ROOT } from './helpers.js';

const require = createRequire(import.meta.url);
const text = (path: string): Promise<string> => readFile(join(ROOT, path), 'utf8');

type Access = 'read' | 'write';
const stronger = (a: Access | undefined, b: Access): Access => (a === 'write' || b === 'write' ? 'write' : 'read');

/** GitHub's permission for an operation, from its OpenAPI category (and subcategory). Null: no repository permission (app/user identity). */
function permissionOf(category: string, subcategory: string): string | null {
  if (category === 'apps' || category === 'users') return null;
  if (category === 'commits' && subcategory === 'statuses') return 'statuses';
  if (category === 'commits' && subcategory === 'commits') return 'contents';
  if (category === 'git') return 'contents';
  if (category === 'repos' && subcategory === 'contents') return 'contents';
  if (category === 'repos' || category === 'collaborators') return 'metadata';
  if (category === 'pulls') return 'pull_requests';
  if (category === 'issues' || category === 'reactions') return 'issues';
  if (category === 'checks') return 'checks';
  if (category === 'actions') return 'actions';
  if (category === 'packages') return 'packages';
  throw new Error(`no permission known for the OpenAPI category ${category}/${subcategory}`);
}

/** The webhook events' permissions (GitHub sends an event only to an App holding at least read on it). */
const EVENT_PERMISSION: Record<string, string> = {
  push: 'contents',
  pull_request: 'pull_requests',
  issue_comment: 'issues',
  check_suite: 'checks',
  workflow_run: 'actions',
  package: 'packages',
  registry_package: 'packages',
};

describe('app.yml permissions follow the code', () => {
  it('are exactly those the REST routes, the GraphQL commit and the subscribed events need', async () => {
    const api = require('@octokit/openapi/generated/api.github.com.json') as { paths: Record<string, Record<string, { 'x-github'?: { category?: string; subcategory?: string } }>> };
    const needed: Record<string, Access> = { metadata: 'read' };
    const dir = join(ROOT, 'src/forges/github');
    const routes = new Set<string>();
    for (const f of await readdir(dir)) for (const m of (await readFile(join(dir, f), 'utf8')).matchAll(/'(GET|POST|PATCH|PUT|DELETE) (\/[^']*)'/g)) routes.add(`${m[1]} ${m[2]}`);
    expect(routes.size).toBeGreaterThan(10);
    for (const route of routes) {
      const [method = '', path = ''] = route.split(' ');
      const op = api.paths[path]?.[method.toLowerCase()];
      expect(op, `${route} is in GitHub's API description`).toBeDefined();
      const perm = permissionOf(op?.['x-github']?.category ?? '', op?.['x-github']?.subcategory ?? '');
      if (perm) needed[perm] = stronger(needed[perm], method === 'GET' || perm === 'metadata' ? 'read' : 'write');
    }
    // GraphQL mutations the adapter sends, and the permission GitHub checks for each.
    const MUTATION_PERMISSION: Record<string, string> = {
      createCommitOnBranch: 'contents',
      createRef: 'contents',
      updateRefs: 'contents',
      deleteRef: 'contents',
      createPullRequest: 'pull_requests',
      updatePullRequest: 'pull_requests',
    };
    let source = '';
    for (const f of await readdir(dir)) source += await readFile(join(dir, f), 'utf8');
    const mutations = new Set([...source.matchAll(/\b(create|update|delete|add|close|merge|remove)[A-Z][A-Za-z]*\s*\(\s*input:/g)].map((m) => m[0].replace(/\s*\(\s*input:$/, '')));
    expect(mutations.has('createCommitOnBranch'), 'files are committed with createCommitOnBranch (verified commits)').toBe(true);
    for (const mutation of mutations) {
      const perm = MUTATION_PERMISSION[mutation];
      expect(perm, `permission for the GraphQL mutation ${mutation}`).toBeDefined();
      if (perm) needed[perm] = 'write';
    }
    const manifest = parse(await text('app.yml')) as { default_events: string[]; default_permissions: Record<string, string> };
    for (const event of manifest.default_events) {
      const perm = EVENT_PERMISSION[event];
      expect(perm, `permission for the ${event} event`).toBeDefined();
      if (perm) needed[perm] = stronger(needed[perm], 'read');
    }
    expect(manifest.default_permissions).toEqual(needed);
  });
});

describe('the container image', () => {
  it('refuses to start without BATON_ENV_REPO unless BATON_DEMO=true, ships the example only for the demo, and takes baton commands', async () => {
    const dockerfile = await text('Dockerfile');
    expect(dockerfile).toMatch(/^\s+BATON_REQUIRE_ENV_REPO=true/m);
    expect(dockerfile).toContain('COPY examples/env-repo ./examples/env-repo');
    expect(dockerfile).not.toMatch(/^COPY examples \.\/examples$/m);
    expect(dockerfile).toContain('ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/dist/main.js"]');
    expect(dockerfile).toContain('CMD ["serve"]');
  });
});

describe('CI snippets for env repositories', () => {
  it('docs/configuration.md shows the files in examples/ci, and both run `validate --repo` on merge requests', async () => {
    const docs = await text('docs/configuration.md');
    const gha = await text('examples/ci/github-actions.yml');
    const glc = await text('examples/ci/gitlab-ci.yml');
    expect(docs).toContain('```yaml\n' + gha + '```');
    expect(docs).toContain('```yaml\n' + glc + '```');
    expect(docs).not.toMatch(/^\$ npx baton/m);
    const workflow = parse(gha) as { on: Record<string, unknown>; jobs: Record<string, { steps: { run?: string }[] }> };
    expect(Object.keys(workflow.on)).toEqual(['pull_request']);
    expect(Object.values(workflow.jobs)[0]?.steps.some((s) => /docker run .* validate --repo \/repo$/.test(s.run ?? ''))).toBe(true);
    const job = (parse(glc) as Record<string, { rules: { if: string }[]; script: string[]; image: { entrypoint: string[] } }>)['baton-validate'];
    expect(job?.rules[0]?.if).toBe('$CI_PIPELINE_SOURCE == "merge_request_event"');
    expect(job?.script).toEqual(['node /app/dist/main.js validate --repo "$CI_PROJECT_DIR"']);
    expect(job?.image.entrypoint).toEqual(['']);
  });
});

describe('the Node.js version', () => {
  it('every production dependency that needs more than package.json\'s engines is named in the README', async () => {
    const pkg = JSON.parse(await text('package.json')) as { engines: { node: string } };
    const lock = JSON.parse(await text('package-lock.json')) as { packages: Record<string, { dev?: boolean; engines?: { node?: string } }> };
    const floor = semver.minVersion(pkg.engines.node)?.version ?? '0.0.0';
    const needMore = Object.entries(lock.packages)
      .filter(([path, p]) => path !== '' && !p.dev && p.engines?.node && !semver.satisfies(floor, p.engines.node))
      .map(([path]) => path.split('node_modules/').pop() ?? path);
    const readme = await text('README.md');
    for (const name of needMore) {
      const family = name.startsWith('@') ? `${name.split('/')[0]}/*` : name;
      expect(readme.includes(`\`${name}\``) || readme.includes(`\`${family}\``), `${name} needs more than node ${pkg.engines.node}: document it in README "Running it"`).toBe(true);
    }
  });
});

describe('user docs', () => {
  it('cite the project\'s own docs, never "SPEC §" or the shared contract', async () => {
    const files = ['README.md', ...(await readdir(join(ROOT, 'docs'))).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
    for (const f of files) {
      const t = await text(f);
      expect(t, f).not.toMatch(/SPEC §|SPEC\.md|shared\/|the shared contract/);
    }
  });
});
