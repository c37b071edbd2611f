/** `.baton.yml`, version 1: the zod schema is the single source; the JSON Schema is generated from it. */

import semver from 'semver';
import { z } from 'zod';
import { isValidRepository } from '../core/image-ref.js';
import { parseRepoRef } from '../core/event.js';
import { compilePattern } from '../core/policy.js';

export const ROLES = ['admin', 'maintain', 'write', 'triage', 'read'] as const;

/** Names that end up in branch names (`baton/<env>`), file paths and Markdown: keep them boring. */
const Name = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'use lowercase letters, digits, "-" and "_" (at most 63, starting with a letter or digit)');

const RelPath = z
  .string()
  .min(1)
  .refine((p) => !p.startsWith('/') && !p.split('/').includes('..') && !p.includes('\\') && !p.includes('\0'), 'must be a relative path inside the repository');

const Duration = z.string().regex(/^\d+(s|m|h|d|w)$/, 'a duration like 30m, 12h, 7d');

export const EnvironmentSchema = z.strictObject({
  branch: z.string().min(1).optional().describe('Env-repo branch this environment lives on (default: the branch .baton.yml is read from).'),
  write: z.enum(['commit', 'merge-request']).default('commit').describe('commit: push straight to the branch; merge-request: a rolling MR baton/<env> that needs approval.'),
  promoteFrom: Name.optional().describe('/baton promote <env> copies versions from this environment.'),
  approvers: z.array(z.enum(ROLES)).default(['maintain', 'admin']).describe('Forge roles allowed to deploy, promote, roll back and pause here.'),
  auto: z.boolean().default(true).describe('false: image events skip this environment; it changes only by /baton promote, deploy or rollback.'),
});

export const TargetSchema = z.union([
  RelPath.describe('A file; the kind is detected from its contents.'),
  z.strictObject({
    file: RelPath,
    key: z.string().min(1).optional().describe('Helm values path of the tag, e.g. web.image.tag'),
    digestKey: z.string().min(1).optional().describe('Helm values path of the digest'),
  }),
]);

export const ImageSchema = z
  .strictObject({
    repository: z.string().refine(isValidRepository, 'must be an image repository like registry.example.com/team/web'),
    source: z.string().refine((s) => parseRepoRef(s) !== undefined, 'must be github:owner/name, gitlab:group/name or git:<url>').optional()
      .describe('App repository whose commits and PRs build this image.'),
    policy: z.enum(['semver', 'sha', 'regex', 'numerical', 'alphabetical']).default('semver'),
    range: z.string().optional().describe('semver range, e.g. ">=1.0.0 <2.0.0" (semver only)'),
    pattern: z.string().optional().describe('Regular expression a tag must match (regex/numerical/alphabetical/sha)'),
    extract: z.string().optional().describe('What is compared, from the pattern groups: "$ts", "$1"'),
    allow: z.array(z.string()).optional().describe('Only these tags'),
    ignore: z.array(z.string()).optional().describe('Never these tags'),
    digest: z.enum(['pin', 'ignore']).default('ignore').describe('pin: write tag@sha256:…; ignore: the tag only'),
    targets: z.record(Name, z.array(TargetSchema).min(1)).describe('Per environment, the files that reference this image.'),
  })
  .superRefine((img, ctx) => {
    if (img.range !== undefined) {
      if (img.policy !== 'semver') ctx.addIssue({ code: 'custom', path: ['range'], message: 'range applies to policy: semver only' });
      else if (semver.validRange(img.range) === null) ctx.addIssue({ code: 'custom', path: ['range'], message: `not a semver range: ${img.range}` });
    }
    if (img.pattern !== undefined) {
      try {
        // RE2 syntax, as the policy matches it: Flux-style `(?P<name>…)` groups are accepted.
        compilePattern(img.pattern);
      } catch (e) {
        ctx.addIssue({ code: 'custom', path: ['pattern'], message: `not a valid regular expression (RE2 syntax, as Flux uses; no lookaround or backreferences): ${(e as Error).message}` });
      }
    }
    if (img.extract !== undefined && img.pattern === undefined) ctx.addIssue({ code: 'custom', path: ['extract'], message: 'extract needs a pattern' });
    if ((img.policy === 'numerical' || img.policy === 'alphabetical' || img.policy === 'regex') && img.pattern === undefined) {
      ctx.addIssue({ code: 'custom', path: ['pattern'], message: `policy: ${img.policy} needs a pattern` });
    }
  });

export const PreviewSchema = z.strictObject({
  branch: z.string().min(1).describe('Env-repo branch holding preview Applications'),
  path: z.string().min(1).describe('Where a preview is written; {{name}} is the preview name'),
  template: RelPath.describe('Argo CD Application (or Flux) template in the env repo'),
  trigger: z.enum(['auto', 'label', 'command']).default('auto'),
  label: z.string().default('preview'),
  forks: z.enum(['never', 'command']).default('command'),
  ttl: Duration.default('7d'),
  tag: z.string().min(1).default('{{shortSha}}').describe('The tag CI gives an MR build: {{shortSha}} (default), {{sha}}, pr-{{number}}…'),
});

/** A registry host as events and image names carry it: `localhost:5000`, `registry.example.com`. */
const RegistryHost = z.string().regex(/^[A-Za-z0-9.-]{1,253}(?::[0-9]{1,5})?$/, 'a registry host, optionally with a port: localhost:5000, registry.example.com');

export const RegistriesSchema = z.strictObject({
  aliases: z
    .record(RegistryHost, RegistryHost)
    .default({})
    .describe('Hosts that name the same registry: events from the key are matched as if they came from the value, e.g. {"127.0.0.1:5000": "localhost:5000"}. docker.io, index.docker.io and registry-1.docker.io are always one.'),
});

export const ConfigSchema = z
  .strictObject({
    $schema: z.string().optional(),
    version: z.literal(1),
    registries: RegistriesSchema.default({ aliases: {} }).describe('How registry hosts in events relate to the ones images name.'),
    environments: z.record(Name, EnvironmentSchema),
    images: z.record(Name, ImageSchema).default({}),
    previews: z.record(Name, PreviewSchema).default({}),
  })
  .superRefine((cfg, ctx) => {
    for (const [name, env] of Object.entries(cfg.environments)) {
      if (env.promoteFrom !== undefined && !Object.hasOwn(cfg.environments, env.promoteFrom)) {
        ctx.addIssue({ code: 'custom', path: ['environments', name, 'promoteFrom'], message: `unknown environment ${env.promoteFrom}` });
      }
    }
    for (const [image, img] of Object.entries(cfg.images)) {
      for (const env of Object.keys(img.targets)) {
        if (!Object.hasOwn(cfg.environments, env)) ctx.addIssue({ code: 'custom', path: ['images', image, 'targets', env], message: `unknown environment ${env}` });
      }
    }
    for (const name of Object.keys(cfg.previews)) {
      if (!Object.hasOwn(cfg.images, name)) ctx.addIssue({ code: 'custom', path: ['previews', name], message: `previews.${name} needs an image of the same name` });
      else if (!cfg.images[name]?.source) ctx.addIssue({ code: 'custom', path: ['previews', name], message: `previews.${name} needs images.${name}.source (the app repository whose merge requests it previews)` });
    }
  });

export type BatonConfig = z.output<typeof ConfigSchema>;
export type ImageConfig = z.output<typeof ImageSchema>;
export type EnvironmentConfig = z.output<typeof EnvironmentSchema>;

/** The JSON Schema editors use for completion (input shape: defaults are optional). */
export function jsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(ConfigSchema, { io: 'input', unrepresentable: 'any' }),
    $id: 'https://baton.dev/schema/baton.schema.json',
    title: 'Baton .baton.yml',
  };
}
