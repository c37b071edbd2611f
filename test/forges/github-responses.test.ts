/**
 * The other half of "cannot drift": every field the adapter reads from a REST response must exist in
 * GitHub's published response schema for that operation, and where GitHub may send null or leave the
 * field out, the adapter's schema must allow it. (Requests are checked by the emulator; GraphQL
 * responses by executing the documents on GitHub's schema.)
 */

import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { REST_RESPONSE_SCHEMAS } from '../../src/forges/github/github-forge.js';
import { openApiValidator } from '../emulators/github/openapi.js';
import { compare } from '../emulators/github/schema-compare.js';

describe('GitHub REST responses the adapter reads', () => {
  for (const [route, schema] of Object.entries(REST_RESPONSE_SCHEMAS)) {
    it(`${route} fits GitHub's published response schema`, () => {
      const oas = openApiValidator().responseSchema(route);
      expect(oas, `no 2xx JSON response for ${route}`).toBeDefined();
      const problems: string[] = [];
      compare(schema, oas ?? null, route.split(' ')[1] ?? route, problems);
      expect(problems).toEqual([]);
    });
  }

  it('catches a field GitHub does not send, and a null the adapter would choke on', () => {
    const drifted: string[] = [];
    compare(z.object({ default_branch: z.string(), defaultBranchName: z.string() }), openApiValidator().responseSchema('GET /repos/{owner}/{repo}') ?? null, 'repo', drifted);
    expect(drifted).toEqual(['repo.defaultBranchName: not in GitHub\'s published schema']);
    const strict: string[] = [];
    compare(z.array(z.object({ body: z.string() })), openApiValidator().responseSchema('GET /repos/{owner}/{repo}/pulls') ?? null, 'pulls', strict);
    expect(strict).toEqual(['pulls[].body: GitHub may send null, the adapter does not accept it']);
    const problems: string[] = [];
    compare(REST_RESPONSE_SCHEMAS['GET /repos/{owner}/{repo}'] as z.ZodType, { type: 'object', properties: { default_branch: { anyOf: [{ type: 'string' }, { type: 'null' }] } }, required: [] }, 'x', problems);
    expect(problems).toEqual(['x.default_branch: GitHub may leave it out, the adapter requires it', 'x.default_branch: GitHub may send null, the adapter does not accept it']);
  });
});
