/** GitLab app-repository reads for previews: MR state, open MRs, MRs of a commit, pipeline state. */

import { z } from 'zod';
import type { AppRepoPort, BuildState, MergeRequestInfo } from '../types.js';
import { ForgeError, MAX_MR_PAGES } from '../types.js';
import type { GitlabForge } from './gitlab-forge.js';
import { GitlabApiError } from './http.js';

const PAGE = 100;
const PROJECT_PATH = /^[A-Za-z0-9_.][A-Za-z0-9_.-]*(\/[A-Za-z0-9_.][A-Za-z0-9_.-]*)+$/;
const SHA = /^([0-9a-f]{40}|[0-9a-f]{64})$/;

const MergeRequestSchema = z.object({
  iid: z.number().int(),
  state: z.string(),
  title: z.string(),
  author: z.object({ username: z.string() }).nullish(),
  sha: z.string().nullish(),
  source_branch: z.string(),
  source_project_id: z.number().int(),
  target_project_id: z.number().int(),
  labels: z.array(z.string()).default([]),
  updated_at: z.string(),
});
const PipelineSchema = z.object({ id: z.number().int(), status: z.string() });

function assertProject(repo: string): void {
  if (!PROJECT_PATH.test(repo)) throw new ForgeError(`invalid GitLab project path ${JSON.stringify(repo.slice(0, 200))}`, 422);
}

function info(m: z.infer<typeof MergeRequestSchema>): MergeRequestInfo {
  return {
    number: m.iid,
    // `locked` is an open MR being merged at this moment: not closed.
    state: m.state === 'merged' ? 'merged' : m.state === 'closed' ? 'closed' : 'open',
    title: m.title,
    author: m.author?.username ?? 'ghost',
    headSha: m.sha ?? '',
    headBranch: m.source_branch,
    fromFork: m.source_project_id !== m.target_project_id,
    labels: m.labels,
    updatedAt: m.updated_at,
  };
}

export class GitlabAppRepo implements AppRepoPort {
  constructor(private readonly forge: GitlabForge) {}

  async getMergeRequest(repo: string, number: number): Promise<MergeRequestInfo | undefined> {
    assertProject(repo);
    if (!Number.isSafeInteger(number) || number <= 0) throw new ForgeError(`invalid merge request number ${number}`, 422);
    try {
      return info(MergeRequestSchema.parse(await this.forge.api.MergeRequests.show(repo, number)));
    } catch (e) {
      if (e instanceof GitlabApiError && e.status === 404) return undefined;
      throw e;
    }
  }

  async listOpenMergeRequests(repo: string): Promise<MergeRequestInfo[]> {
    assertProject(repo);
    // One page more than allowed: if it fills, the list is longer than Baton will answer for.
    const raw = await this.forge.api.MergeRequests.all({ projectId: repo, state: 'opened', perPage: PAGE, maxPages: MAX_MR_PAGES + 1 });
    const list = z.array(MergeRequestSchema).parse(raw);
    if (list.length > MAX_MR_PAGES * PAGE) throw new ForgeError(`more than ${MAX_MR_PAGES * PAGE} open merge requests in ${repo}; not answering with a partial list`, 413);
    return list.map(info);
  }

  async commitMergeRequests(repo: string, sha: string): Promise<MergeRequestInfo[]> {
    assertProject(repo);
    if (!SHA.test(sha)) throw new ForgeError('a full commit id is needed', 422);
    try {
      return z.array(MergeRequestSchema).parse(await this.forge.api.Commits.allMergeRequests(repo, sha)).map(info);
    } catch (e) {
      if (e instanceof GitlabApiError && e.status === 404) return [];
      throw e;
    }
  }

  /** The newest pipeline of the commit decides. */
  async buildState(repo: string, sha: string): Promise<BuildState> {
    assertProject(repo);
    if (!SHA.test(sha)) throw new ForgeError('a full commit id is needed', 422);
    const raw = await this.forge.api.Pipelines.all(repo, { sha, perPage: 20, maxPages: 1, orderBy: 'id', sort: 'desc' });
    const newest = z.array(PipelineSchema).parse(raw)[0];
    if (!newest) return 'none';
    if (newest.status === 'success') return 'success';
    if (newest.status === 'failed' || newest.status === 'canceled') return 'failure';
    return 'pending';
  }
}
