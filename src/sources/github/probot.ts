/**
 * Probot integration, for deployments that run Baton inside probot (or next to other probot apps):
 * the same normalization as the `github` Source, fed from probot's verified webhook stream.
 * Replies on that path are probot's own (200 once handlers ran, 400 bad request, 401/500); the
 * default `/webhooks/github` route goes through the shared handler and keeps the status codes README "Webhooks" documents.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { createNodeMiddleware } from 'probot';
import type { ApplicationFunction, Probot } from 'probot';
import type { Event } from '../../core/event.js';
import { MalformedPayload } from '../types.js';
import { githubSource } from './source.js';
import type { GitHubSourceOptions } from './source.js';

export interface GitHubProbotDeps extends GitHubSourceOptions {
  /** Hand an Event to the queue (dedupe by delivery id happens there). */
  enqueue(event: Event): Promise<unknown>;
}

/** A probot ApplicationFunction: every delivery probot verified is normalized and enqueued. */
export function githubProbotApp(deps: GitHubProbotDeps): ApplicationFunction {
  const source = githubSource(deps);
  return (app: Probot) => {
    app.onAny(async (context) => {
      const delivery = {
        headers: { 'x-github-event': context.name, 'x-github-delivery': context.id },
        query: {},
        rawBody: Buffer.alloc(0),
        receivedAt: new Date().toISOString(),
      };
      let parsed;
      try {
        parsed = source.parse(context.payload, delivery);
      } catch (e) {
        if (e instanceof MalformedPayload) {
          app.log.warn({ delivery: context.id, event: context.name, reason: e.message }, 'malformed GitHub delivery');
          return;
        }
        throw e;
      }
      if (parsed.kind === 'ignored') {
        app.log.debug({ delivery: context.id, event: context.name, reason: parsed.reason }, 'ignored');
        return;
      }
      for (const event of parsed.events) await deps.enqueue(event);
    });
  };
}

type NodeHandler = (req: IncomingMessage, res: ServerResponse, next?: (err?: Error) => void) => unknown;

/** Mount probot's middleware (via createNodeMiddleware) at `path` on an express-like app. */
export async function mountGitHubProbot(app: { use(handler: NodeHandler): unknown }, probot: Probot, deps: GitHubProbotDeps, path = '/webhooks/github'): Promise<void> {
  const middleware = await createNodeMiddleware(githubProbotApp(deps), { probot, webhooksPath: path });
  app.use((req, res, next) => middleware(req, res, next));
}
