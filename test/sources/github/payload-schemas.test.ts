/**
 * Every payload field the GitHub source reads must exist in the webhook payload schemas GitHub
 * publishes (`x-webhooks` in the api.github.com OpenAPI description), and where GitHub may send
 * null or leave it out, the source must accept that. Example payloads cover the common case; this
 * covers what the description allows.
 */

import { describe, expect, it } from 'vitest';
import { WEBHOOK_SCHEMAS } from '../../../src/sources/github/normalize.js';
import { openApiValidator } from '../../emulators/github/openapi.js';
import { compare } from '../../emulators/github/schema-compare.js';

describe('GitHub webhook payloads the source reads', () => {
  for (const [key, schema] of Object.entries(WEBHOOK_SCHEMAS)) {
    it(`${key} fits GitHub's published payload schema`, () => {
      const published = openApiValidator().webhookSchema(key);
      expect(published, `no published schema for ${key}`).toBeDefined();
      const problems: string[] = [];
      compare(schema, published ?? null, key, problems);
      expect(problems).toEqual([]);
    });
  }
});
