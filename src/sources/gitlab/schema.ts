/**
 * The parts of GitLab's project/group hook payloads Baton reads. Only the fields used are declared;
 * the rest is tolerated, so GitLab adding fields never breaks parsing.
 */

import { z } from 'zod';

const Str = z.string().max(4096);
const Sha = z.string().regex(/^[0-9a-f]{40}$|^[0-9a-f]{64}$/);
/** GitLab limits a note to 1,000,000 characters; anything longer is not from GitLab. */
const NoteText = z.string().max(1_000_000);

export const ProjectSchema = z.object({
  path_with_namespace: z.string().min(1).max(1024),
  default_branch: Str.nullish(),
});

const UserSchema = z.object({ username: Str.optional() });

const LabelSchema = z.object({ title: z.string().max(255) });

export const PushSchema = z.object({
  before: Sha,
  after: Sha,
  ref: Str,
  user_username: Str.nullish(),
  project: ProjectSchema,
  total_commits_count: z.number().int().nonnegative().nullish(),
  commits: z
    .array(
      z.object({
        added: z.array(Str).nullish(),
        modified: z.array(Str).nullish(),
        removed: z.array(Str).nullish(),
      }),
    )
    .max(10_000)
    .nullish(),
});

export const MergeRequestSchema = z.object({
  user: UserSchema.nullish(),
  project: ProjectSchema,
  object_attributes: z.object({
    iid: z.number().int().positive(),
    title: Str,
    source_branch: Str,
    target_branch: Str,
    source_project_id: z.number().int().nullish(),
    target_project_id: z.number().int().nullish(),
    action: Str.nullish(),
    /** Present on `update` only when new commits were pushed (the previous head). */
    oldrev: Sha.nullish(),
    last_commit: z.object({ id: Sha }).nullish(),
    labels: z.array(LabelSchema).max(1000).nullish(),
  }),
  labels: z.array(LabelSchema).max(1000).nullish(),
  changes: z
    .object({
      labels: z
        .object({
          previous: z.array(LabelSchema).max(1000).nullish(),
          current: z.array(LabelSchema).max(1000).nullish(),
        })
        .nullish(),
    })
    .nullish(),
});

export const NoteSchema = z.object({
  user: UserSchema.nullish(),
  project: ProjectSchema,
  object_attributes: z.object({
    id: z.number().int().nonnegative(),
    note: NoteText,
    noteable_type: Str,
    action: Str.nullish(),
    system: z.boolean().nullish(),
  }),
  merge_request: z.object({ iid: z.number().int().positive() }).nullish(),
});

export const PipelineSchema = z.object({
  user: UserSchema.nullish(),
  project: ProjectSchema,
  object_attributes: z.object({
    ref: Str,
    tag: z.boolean().nullish(),
    sha: Sha,
    status: Str,
    source: Str.nullish(),
  }),
  merge_request: z.object({ iid: z.number().int() }).nullish(),
});

export type PushPayload = z.infer<typeof PushSchema>;
export type MergeRequestPayload = z.infer<typeof MergeRequestSchema>;
export type NotePayload = z.infer<typeof NoteSchema>;
export type PipelinePayload = z.infer<typeof PipelineSchema>;
