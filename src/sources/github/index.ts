/** The GitHub webhook source: the `Source` for the shared handler, and probot integration. */

export { GITHUB_MAX_PAYLOAD_BYTES, deliveryIdOf, githubSelfLogins, githubSource, githubWebhookRoute, githubWebhookSecrets } from './source.js';
export type { GitHubSourceOptions, GitHubSourceSettings } from './source.js';
export { causedBy, ciConclusion, normalizeCheckSuite, normalizeIssueComment, normalizePullRequest, normalizePush, normalizeWorkflowRun } from './normalize.js';
export { githubProbotApp, mountGitHubProbot } from './probot.js';
export type { GitHubProbotDeps } from './probot.js';
