/** Every inbound webhook becomes one of these; sources normalize, the core only ever sees Events. */

/** Where a delivery came from: `registry/<kind>`, `github`, `gitlab`, `cd/argocd`, `cd/flux`; `cli` for an operator's command; `baton` for what Baton itself carries over. */
export type SourceId = `registry/${string}` | 'github' | 'gitlab' | `cd/${string}` | 'cli' | 'baton';

/** A repository on a forge, written `github:owner/name`, `gitlab:group/sub/name` or `git:<url>`. */
export interface RepoRef {
  forge: 'github' | 'gitlab' | 'git';
  path: string;
}

interface EventBase {
  source: SourceId;
  /** Stable id of this delivery: the same event delivered twice carries the same id. */
  deliveryId: string;
  /** Who caused it (forge login, registry actor), when the payload says. */
  actor?: string;
}

export interface ImagePushed extends EventBase {
  type: 'image-pushed';
  /** Registry host as clients name it, e.g. `registry.example.com`, `localhost:5000`, `docker.io`. */
  registry: string;
  /** Repository path inside the registry, e.g. `team/web`. */
  repository: string;
  tag: string;
  digest?: string;
  pushedAt?: string;
}

/** CI finished on an app repo commit (GitHub workflow_run/check_suite, GitLab pipeline). */
export interface CiCompleted extends EventBase {
  type: 'ci-completed';
  repo: RepoRef;
  branch: string;
  defaultBranch: string;
  sha: string;
  conclusion: 'success' | 'failure' | 'cancelled' | 'other';
  /**
   * How many characters of the sha the forge's CI calls the short sha, when it has a convention
   * (GitLab's `CI_COMMIT_SHORT_SHA`: 8). Without one, Baton uses git's customary 7.
   */
  shortShaLength?: number;
}

export interface Pushed extends EventBase {
  type: 'push';
  repo: RepoRef;
  branch: string;
  defaultBranch: string;
  before: string;
  after: string;
  /** Paths touched by the pushed commits, where the payload lists them. */
  paths?: string[];
}

export interface PullRequestChanged extends EventBase {
  type: 'pull-request';
  action: 'opened' | 'updated' | 'reopened' | 'closed' | 'merged' | 'labeled' | 'unlabeled' | 'edited';
  repo: RepoRef;
  number: number;
  title: string;
  author: string;
  headSha: string;
  headBranch: string;
  baseBranch: string;
  /** The head lives in another repository (a fork). */
  fromFork: boolean;
  labels: string[];
  /** For labeled/unlabeled: the label concerned. */
  label?: string;
}

export interface CommentPosted extends EventBase {
  type: 'comment';
  action: 'created' | 'edited';
  repo: RepoRef;
  /** PR / MR number the comment is on. */
  number: number;
  commentId: string;
  author: string;
  body: string;
  previousBody?: string;
}

/** Argo CD / Flux reporting sync and health of an application. */
export interface CdStatus extends EventBase {
  type: 'cd-status';
  application: string;
  revision?: string;
  sync: 'synced' | 'out-of-sync' | 'unknown';
  health: 'healthy' | 'progressing' | 'degraded' | 'suspended' | 'missing' | 'unknown';
  message?: string;
  /** The `.baton.yml` environment the application deploys, when the notification names it. */
  environment?: string;
  /** The last sync operation (Argo CD `operationState.phase`, Flux reconciliation result). */
  operation?: 'running' | 'succeeded' | 'failed';
  /** Operator's time of the report (ISO), when it sends one. */
  at?: string;
}

export type Event = ImagePushed | CiCompleted | Pushed | PullRequestChanged | CommentPosted | CdStatus;

/** What a source parser returns: events to queue, or a reason the delivery is of no interest. */
export type Parsed = { kind: 'events'; events: Event[] } | { kind: 'ignored'; reason: string };

export function formatRepoRef(ref: RepoRef): string {
  return `${ref.forge}:${ref.path}`;
}

export function parseRepoRef(text: string): RepoRef | undefined {
  // A URL first: `git://host/env.git` is a git URL, not the `git:` prefix with the path `//host/env.git`.
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(text)) return text.startsWith('git://') ? { forge: 'git', path: text } : undefined;
  const m = /^(github|gitlab|git):(.+)$/.exec(text);
  if (!m?.[1] || !m[2]) return undefined;
  return { forge: m[1] as RepoRef['forge'], path: m[2] };
}
