/**
 * `/baton` commands: from a comment (or the CLI) to intents on the same queue and executor as
 * image bumps, with the commenter's role checked on receipt and again before the write.
 */

import type { Logger } from 'pino';
import type { ConfigIndex } from '../config/index.js';
import { authorize, commandLabel } from '../core/commands/authorize.js';
import type { ForgeRole } from '../core/commands/authorize.js';
import { codeSpan, escapeMarkdown } from '../core/commands/escape.js';
import { previewName } from '../core/preview/name.js';
import { previousVersion, sourceOfVersion } from '../core/commands/history.js';
import { BATON_COMMENT_MARKER, helpText, parseComment } from '../core/commands/parse.js';
import type { Command } from '../core/commands/parse.js';
import { STATE_FILE, pauseKey, pausedBy, readState, writeState } from '../core/commands/state.js';
import { sanitizeTrailerValue } from '../core/sanitize.js';
import { changesetDiff } from '../core/diff.js';
import { readImageVersion } from '../core/edit-image.js';
import type { CommentPosted, Event } from '../core/event.js';
import { formatRepoRef } from '../core/event.js';
import { accepts } from '../core/policy.js';
import type { Cause, Intent, SetImage } from '../core/intent.js';
import type { Outcome } from '../core/outcome.js';
import { rollingBranch } from '../core/outcome.js';
import { pathsOf, plan } from '../core/plan.js';
import type { ImageRoute } from '../core/route.js';
import type { Forge, ChatOpsMergeRequest, ReviewPort } from '../forges/types.js';
import { RetryableError } from '../forges/types.js';

/** Where a command was written, so feedback goes back there. */
export interface CommentTarget {
  forge: 'github' | 'gitlab' | 'git' | 'cli';
  /** The repository as its forge names it (`acme/web`, `group/project`). */
  repo: string;
  number: number;
  commentId: string;
  author: string;
}

export interface CommandResultEntry {
  /** `promote production` */
  command: string;
  author: string;
  ok: boolean;
  /** Markdown; every stranger's string in it already escaped. */
  text: string;
}

/**
 * How results reach the merge request. The default writes one Baton comment per MR (results) and
 * one reply per command comment (refusals, usage errors); the reporter's sticky comment can take over.
 */
export interface CommandFeedback {
  /** The results of the commands of one comment (or of one landed batch), in order. */
  result(target: CommentTarget, entries: CommandResultEntry[]): Promise<void>;
  /** Refusals and usage errors of one comment, in one reply to its author. */
  reply(target: CommentTarget, lines: string[]): Promise<void>;
}

/** `/baton preview` and `/baton preview destroy`, provided by the previews feature when it is configured. */
export type PreviewHook = (request: { event: CommentPosted; destroy: boolean; actor: string }) => Promise<{ text: string; intents?: Intent[] }>;

export const RESULTS_MARKER = `${BATON_COMMENT_MARKER}commands -->`;
const replyMarker = (commentId: string): string => `${BATON_COMMENT_MARKER}reply:${commentId.replace(/[^0-9A-Za-z_-]/g, '')} -->`;

/** A login that is safe to @-mention; anything else is shown as code. */
function mention(login: string): string {
  return /^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,38})$/.test(login) ? `@${login}` : codeSpan(login);
}

export function reviewFeedback(reviews: ReviewPort): CommandFeedback {
  return {
    async result(t, entries) {
      const sections = entries.map((e) => [`**\`/baton ${e.command}\`** by ${mention(e.author)} ${e.ok ? '✅' : '❌'}`, '', e.text].join('\n'));
      await reviews.upsertComment(t.repo, t.number, RESULTS_MARKER, [RESULTS_MARKER, ...sections].join('\n\n'));
    },
    async reply(t, lines) {
      const marker = replyMarker(t.commentId);
      const body = lines.length === 1 ? `${mention(t.author)} ${lines[0] ?? ''}` : [mention(t.author), '', ...lines.map((l) => `- ${l}`)].join('\n');
      await reviews.upsertComment(t.repo, t.number, marker, [marker, body].join('\n'));
    },
  };
}

export interface CommandDeps {
  forge: Forge;
  /** The env repository, as the forge names it. */
  repo: string;
  logger: Logger;
  now: () => number;
  feedback?: CommandFeedback;
  previews?: PreviewHook;
}

/** What running one command produced: text now, and intents for the queue (their result comes with the outcome). */
export type CommandRun = { status: 'done' | 'refused'; text: string } | { status: 'queued'; text: string; intents: Intent[] };

interface RunContext {
  index: ConfigIndex;
  actor: string;
  role: ForgeRole;
  target: CommentTarget;
  /** The comment's merge request, when the forge can tell. */
  mr?: ChatOpsMergeRequest;
  /** The app repository the comment is on (`github:acme/web`), for deploy. */
  commentRepo?: string;
  reviews?: ReviewPort;
  cause: Cause;
  /** Invalidate the config cache after writing the state file. */
  invalidate: () => void;
  /** The comment, when the command came from one (previews need it). */
  event?: CommentPosted;
}

const GUARDED = new Set(['deploy', 'promote', 'rollback', 'pause', 'resume']);

function imageRoutes(index: ConfigIndex, names: readonly string[]): ImageRoute[] {
  const all = Object.entries(index.config.images).flatMap(([name, img]) => index.imagesByRepository(img.repository).filter((r) => r.image === name));
  return names.length === 0 ? all : all.filter((r) => names.includes(r.image));
}

function envRoute(route: ImageRoute, env: string) {
  return route.envs.find((e) => e.env === env);
}

function envBranch(index: ConfigIndex, env: string): string {
  return index.config.environments[env]?.branch ?? index.defaultBranch;
}

/** The version of `route` in `env`, read at the head of the env's branch. */
async function currentVersion(forge: Forge, repo: string, branch: string, route: ImageRoute, env: string): Promise<{ tag?: string; digest?: string } | undefined> {
  const e = envRoute(route, env);
  if (!e) return undefined;
  const snap = await forge.readFiles(repo, branch, e.targets.map((t) => t.file));
  for (const t of e.targets) {
    const text = snap.files[t.file];
    if (!text) continue;
    const v = readImageVersion(text, { image: route.image, repository: route.repository, ...(t.key && { key: t.key }), ...(t.digestKey && { digestKey: t.digestKey }) });
    if (v?.tag !== undefined) return v;
  }
  return undefined;
}

function setImage(route: ImageRoute, env: string, tag: string, digest: string | undefined, cause: Cause): SetImage | undefined {
  const e = envRoute(route, env);
  if (!e) return undefined;
  return {
    type: 'set-image',
    destination: e.destination,
    env,
    image: route.image,
    repository: route.repository,
    tag,
    ...(digest !== undefined && { digest }),
    digestMode: route.digestMode,
    mode: 'exact',
    policy: route.policy,
    targets: e.targets,
    cause,
  };
}

const list = (intents: SetImage[]): string => intents.map((i) => `${i.image} ${i.tag}`).join(', ');

function fence(text: string, lang: string): string {
  const longest = Math.max(2, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  const f = '`'.repeat(longest + 1);
  return `${f}${lang}\n${text}${text.endsWith('\n') ? '' : '\n'}${f}`;
}

/** Comment texts remembered for edits whose webhook does not carry the earlier text (GitLab notes). */
const SEEN_BODIES_MAX = 5_000;

export function createCommands(deps: CommandDeps) {
  const log = deps.logger;
  const seenBodies = new Map<string, string>();
  /** The text a comment had before this edit: from the webhook (GitHub), or as Baton last saw it. */
  function previousBodyOf(event: CommentPosted): { known: true; body?: string } | { known: false } {
    const key = `${formatRepoRef(event.repo)}\u0000${event.commentId}`;
    const seen = seenBodies.get(key);
    seenBodies.delete(key);
    seenBodies.set(key, event.body.slice(0, 65_536));
    while (seenBodies.size > SEEN_BODIES_MAX) {
      const oldest = seenBodies.keys().next().value;
      if (oldest === undefined) break;
      seenBodies.delete(oldest);
    }
    if (event.action === 'created') return { known: true };
    const before = event.previousBody ?? seen;
    return before === undefined ? { known: false } : { known: true, body: before };
  }

  async function promoteIntents(cmd: { env: string; images: string[] }, ctx: RunContext): Promise<SetImage[] | { refused: string }> {
    const from = ctx.index.config.environments[cmd.env]?.promoteFrom;
    if (!from) return { refused: `${codeSpan(cmd.env)} has no \`promoteFrom\` in .baton.yml, so there is nothing to promote from.` };
    const routes = imageRoutes(ctx.index, cmd.images).filter((r) => envRoute(r, from) && envRoute(r, cmd.env));
    if (routes.length === 0) return { refused: `No image has targets in both ${codeSpan(from)} and ${codeSpan(cmd.env)}.` };
    const intents: SetImage[] = [];
    const missing: string[] = [];
    for (const r of routes) {
      const v = await currentVersion(deps.forge, deps.repo, envBranch(ctx.index, from), r, from);
      if (v?.tag === undefined) {
        missing.push(r.image);
        continue;
      }
      // Carry the app commit the version was built from, so the promotion links back to it.
      const file = envRoute(r, from)?.targets[0]?.file;
      const history = file && deps.forge.commitsTouching ? await deps.forge.commitsTouching(deps.repo, envBranch(ctx.index, from), file, 50) : [];
      const sourceRef = sourceOfVersion(history, r.repository, v.tag);
      const i = setImage(r, cmd.env, v.tag, v.digest, { ...ctx.cause, ...(sourceRef && { sourceRef }) });
      if (i) intents.push(i);
    }
    if (intents.length === 0) return { refused: `No version of ${missing.map(codeSpan).join(', ')} was found in ${codeSpan(from)}.` };
    // A version goes on only while the CI of the commit it was built from is green (when Baton knows
    // that commit: its Baton-Source trailer). No CI at all is not a red light: the version runs upstream.
    const red: string[] = [];
    for (const i of intents) {
      const m = i.cause.sourceRef ? /^(github|gitlab):([^@\s]+)@([0-9a-f]{7,40})\b/.exec(i.cause.sourceRef) : null;
      const reviews = deps.forge.reviews;
      if (!m?.[2] || !m[3] || m[1] !== deps.forge.kind || !reviews?.ciVerdict) continue;
      const full = m[3].length === 40 ? m[3] : await reviews.resolveCommit?.(m[2], m[3]);
      if (!full) continue;
      const ci = await reviews.ciVerdict(m[2], full);
      if (ci.state === 'failure') red.push(`${codeSpan(i.image)} ${codeSpan(i.tag)} was built from ${codeSpan(`${m[2]}@${m[3]}`)}, whose CI failed (${escapeMarkdown(ci.summary)})`);
      else if (ci.state === 'pending') red.push(`${codeSpan(i.image)} ${codeSpan(i.tag)} was built from ${codeSpan(`${m[2]}@${m[3]}`)}, whose CI is still running (${escapeMarkdown(ci.summary)})`);
    }
    if (red.length > 0) return { refused: `Nothing was promoted to ${codeSpan(cmd.env)}: ${red.join('; ')}. Try again once CI is green.` };
    return intents;
  }

  async function deployIntents(cmd: { env: string; images: string[] }, ctx: RunContext): Promise<SetImage[] | { refused: string }> {
    if (!ctx.mr || !ctx.commentRepo || !ctx.reviews?.ciVerdict) return { refused: '`deploy` runs from a merge request comment on a forge that reports CI.' };
    const source = ctx.commentRepo.toLowerCase();
    const routes = imageRoutes(ctx.index, cmd.images).filter((r) => ctx.index.config.images[r.image]?.source?.toLowerCase() === source);
    if (routes.length === 0) return { refused: `No image${cmd.images.length ? ` among ${cmd.images.map(codeSpan).join(', ')}` : ''} in .baton.yml is built from ${codeSpan(ctx.commentRepo)}.` };
    const targeted = routes.filter((r) => envRoute(r, cmd.env));
    if (targeted.length === 0) return { refused: `None of ${routes.map((r) => codeSpan(r.image)).join(', ')} has targets in ${codeSpan(cmd.env)}.` };
    const sha = ctx.mr.headSha;
    const short = sha.slice(0, 7);
    const ci = await ctx.reviews.ciVerdict(ctx.target.repo, sha);
    if (ci.state !== 'success') {
      const why = ci.state === 'none' ? 'no CI has reported on it yet' : ci.state === 'pending' ? `its CI is still running (${ci.summary})` : `its CI failed (${ci.summary})`;
      return { refused: `This merge request's build ${codeSpan(short)} cannot be deployed: ${why}. Try again once CI is green.` };
    }
    const intents: SetImage[] = [];
    for (const r of targeted) {
      // The tag CI gives a merge request's build: the short sha, or the full sha when the image's pattern wants that.
      const tag = [short, sha].find((t) => accepts(r.policy, t).ok) ?? short;
      const i = setImage(r, cmd.env, tag, undefined, { ...ctx.cause, sourceRef: `${ctx.commentRepo}@${short} (#${ctx.target.number})` });
      if (i) intents.push(i);
    }
    return intents;
  }

  async function rollbackIntents(cmd: { env: string; image?: string; to?: string }, ctx: RunContext): Promise<SetImage[] | { refused: string }> {
    const routes = imageRoutes(ctx.index, cmd.image ? [cmd.image] : []).filter((r) => envRoute(r, cmd.env));
    if (routes.length === 0) return { refused: `No image${cmd.image ? ` ${codeSpan(cmd.image)}` : ''} has targets in ${codeSpan(cmd.env)}.` };
    if (cmd.to !== undefined && routes.length > 1) return { refused: '`rollback … to <version>` needs one image: `/baton rollback <env> <image> to <version>`.' };
    const branch = envBranch(ctx.index, cmd.env);
    const intents: SetImage[] = [];
    const unknown: string[] = [];
    for (const r of routes) {
      const current = await currentVersion(deps.forge, deps.repo, branch, r, cmd.env);
      let to: { tag: string; digest?: string } | undefined = cmd.to !== undefined ? { tag: cmd.to } : undefined;
      if (!to && deps.forge.commitsTouching) {
        const file = envRoute(r, cmd.env)?.targets[0]?.file;
        if (file) to = previousVersion(await deps.forge.commitsTouching(deps.repo, branch, file, 100), r.repository, current?.tag);
      }
      if (!to) {
        unknown.push(r.image);
        continue;
      }
      const reason = `rollback from ${current?.tag ?? 'unknown'} to ${to.tag}`;
      const i = setImage(r, cmd.env, to.tag, to.digest, { ...ctx.cause, rollback: { by: ctx.actor, reason } });
      if (i) intents.push(i);
    }
    if (intents.length === 0) return { refused: `No earlier version of ${unknown.map(codeSpan).join(', ')} is recorded in the env repo's history; name one: \`/baton rollback ${cmd.env} <image> to <version>\`.` };
    return intents;
  }

  /** Write `.baton/state.yml` on the default branch; re-read and re-apply if someone pushed meanwhile. */
  async function writePause(key: string, pause: { by: string; comment: string; since: string } | undefined, ctx: RunContext): Promise<boolean> {
    const branch = ctx.index.defaultBranch;
    for (let attempt = 1; attempt <= 5; attempt++) {
      const snap = await deps.forge.readFiles(deps.repo, branch, [STATE_FILE]);
      const before = snap.files[STATE_FILE] ?? null;
      const after = writeState(before, key, pause);
      if (after === before) return false;
      const verb = pause ? 'Pause' : 'Resume';
      const message = `${verb} ${key.replace('/', ' ')} automation\n\nBaton-Actor: ${sanitizeTrailerValue(ctx.actor)}\nBaton-Command: ${verb.toLowerCase()} ${key}\n`;
      const written = await deps.forge.write(deps.repo, { branch, expectedHead: snap.head, changes: [{ type: 'write', path: STATE_FILE, contents: after }], message });
      if (written.status === 'committed') {
        ctx.invalidate();
        return true;
      }
    }
    throw new RetryableError(`${branch} kept moving while writing ${STATE_FILE}`);
  }

  async function status(ctx: RunContext): Promise<string> {
    const { index } = ctx;
    const envs = Object.keys(index.config.environments);
    const routes = imageRoutes(index, []);
    const state = readState((await deps.forge.readFiles(deps.repo, index.defaultBranch, [STATE_FILE])).files[STATE_FILE]);
    const rows: string[] = ['| environment | image | version | automation |', '|---|---|---|---|'];
    for (const env of envs) {
      for (const r of routes.filter((x) => envRoute(x, env))) {
        const v = await currentVersion(deps.forge, deps.repo, envBranch(index, env), r, env);
        const p = pausedBy(state.paused, env, r.image);
        rows.push(`| ${env} | ${r.image} | ${v?.tag ?? '—'} | ${p ? `paused${p.by ? ` by ${codeSpan(p.by)}` : ''}` : 'on'} |`);
      }
    }
    const pending: string[] = [];
    for (const env of envs) {
      if (index.config.environments[env]?.write !== 'merge-request') continue;
      if ((await deps.forge.headOf(deps.repo, rollingBranch(env))) !== undefined) pending.push(`\`${rollingBranch(env)}\``);
    }
    return [
      ...rows,
      '',
      pending.length > 0 ? `Rolling merge requests pending: ${pending.join(', ')}.` : 'No rolling merge request is pending.',
      ...(await previewsLine(ctx)),
      ...(state.problem ? ['', `⚠️ ${codeSpan(state.problem, 200)}`] : []),
    ].join('\n');
  }

  /** The preview files on each preview branch, this merge request's marked. */
  async function previewsLine(ctx: RunContext): Promise<string[]> {
    const entries = Object.entries(ctx.index.config.previews);
    if (entries.length === 0) return [];
    const names: string[] = [];
    const notes: string[] = [];
    for (const [image, p] of entries) {
      // The folder of `path` before its first variable: `apps/{{name}}.yaml` → `apps/`.
      const before = p.path.split('{{')[0] ?? '';
      const prefix = before.slice(0, before.lastIndexOf('/') + 1);
      const ours = ctx.target.number > 0 ? previewName(image, ctx.target.number) : undefined;
      try {
        const listed = await deps.forge.listFiles(deps.repo, p.branch, prefix || undefined);
        for (const path of listed.paths) {
          if (!/\.ya?ml$/.test(path)) continue;
          const name = path.slice(prefix.length).replace(/\.ya?ml$/, '');
          if (name.includes('/')) continue;
          names.push(name === ours ? `${codeSpan(name, 63)} (this merge request)` : codeSpan(name, 63));
        }
      } catch (e) {
        notes.push(`${codeSpan(image)}: the preview branch ${codeSpan(p.branch)} could not be read (${escapeMarkdown((e as Error).message).slice(0, 120)})`);
      }
    }
    const shown = names.slice(0, 20);
    const line = names.length === 0 ? 'No preview is running.' : `Previews: ${shown.join(', ')}${names.length > shown.length ? ` and ${names.length - shown.length} more` : ''}.`;
    return ['', line, ...notes.map((n) => `- ${n}`)];
  }

  async function diff(cmd: { env: string; images: string[] }, ctx: RunContext): Promise<CommandRun> {
    const source = ctx.index.config.environments[cmd.env]?.promoteFrom ? await promoteIntents(cmd, ctx) : await deployIntents(cmd, ctx);
    if (!Array.isArray(source)) return { status: 'refused', text: source.refused };
    const env = ctx.index.config.environments[cmd.env];
    const viaMr = env?.write === 'merge-request';
    const branch = viaMr && (await deps.forge.headOf(deps.repo, rollingBranch(cmd.env))) !== undefined ? rollingBranch(cmd.env) : envBranch(ctx.index, cmd.env);
    const snap = await deps.forge.readFiles(deps.repo, branch, pathsOf(source));
    const cs = plan(source, snap.files);
    const text = changesetDiff(cs, snap.files);
    const notes = [...cs.skipped.map((s) => `- ${s.image}: ${s.reason}`), ...cs.problems.map((p) => `- ${p.message}`)];
    return { status: 'done', text: [text ? fence(text, 'diff') : `Nothing would change in ${codeSpan(cmd.env)}.`, ...(notes.length ? ['', ...notes] : []), '', `_Nothing was written (plan against \`${branch}\` at ${snap.head.slice(0, 7)})._`].join('\n') };
  }

  /** One command, authorized by the caller's role; the same path for comments and the CLI. */
  async function run(cmd: Command, ctx: RunContext): Promise<CommandRun> {
    const env = 'env' in cmd ? ctx.index.config.environments[cmd.env] : undefined;
    if ('env' in cmd && !env) return { status: 'refused', text: `There is no environment ${codeSpan(cmd.env)} in .baton.yml.` };
    // Fail closed: without the merge request Baton cannot tell whether the commenter is a fork's author.
    if (!ctx.mr && ctx.target.forge !== 'cli' && (cmd.name === 'deploy' || cmd.name === 'promote' || cmd.name === 'preview')) {
      return { status: 'refused', text: `\`${commandLabel(cmd)}\` was not run: Baton could not read this merge request to check where it comes from. Try again in a moment.` };
    }
    const forkAuthor = ctx.mr?.fromFork === true && ctx.mr.author.toLowerCase() === ctx.actor.toLowerCase();
    const decision = authorize(cmd, { user: ctx.actor, role: ctx.role, ...(env && { approvers: env.approvers }), forkAuthor, fromFork: ctx.mr?.fromFork === true });
    if (!decision.allowed) return { status: 'refused', text: decision.reason };
    switch (cmd.name) {
      case 'help':
        return { status: 'done', text: helpText() };
      case 'status':
        return { status: 'done', text: await status(ctx) };
      case 'diff':
        return diff(cmd, ctx);
      case 'preview': {
        if (!deps.previews || !ctx.event) return { status: 'refused', text: 'Previews are not configured for this repository.' };
        const out = await deps.previews({ event: ctx.event, destroy: cmd.destroy, actor: ctx.actor });
        const intents = out.intents ?? [];
        return intents.length > 0 ? { status: 'queued', text: out.text, intents } : { status: 'done', text: out.text };
      }
      case 'pause':
      case 'resume': {
        const key = pauseKey(cmd.env, cmd.image);
        const what = cmd.image ? `${codeSpan(cmd.image)} in ${codeSpan(cmd.env)}` : codeSpan(cmd.env);
        const origin = ctx.target.forge === 'cli' ? 'cli' : `${ctx.target.forge}:${ctx.target.repo}#${ctx.target.number}`;
        const changed = await writePause(key, cmd.name === 'pause' ? { by: ctx.actor, since: new Date(deps.now()).toISOString(), comment: origin } : undefined, ctx);
        if (cmd.name === 'pause') return { status: 'done', text: changed ? `Automatic bumps of ${what} are paused (recorded in \`${STATE_FILE}\`). Commands still work; \`/baton resume ${cmd.env}${cmd.image ? ` ${cmd.image}` : ''}\` turns them back on.` : `${what} was already paused.` };
        return { status: 'done', text: changed ? `Automatic bumps of ${what} are on again.` : `${what} was not paused.` };
      }
      case 'deploy':
      case 'promote':
      case 'rollback': {
        const intents = cmd.name === 'deploy' ? await deployIntents(cmd, ctx) : cmd.name === 'promote' ? await promoteIntents(cmd, ctx) : await rollbackIntents(cmd, ctx);
        if (!Array.isArray(intents)) return { status: 'refused', text: intents.refused };
        const how = env?.write === 'merge-request' ? `through the rolling merge request \`${rollingBranch(cmd.env)}\`` : `as a commit to \`${envBranch(ctx.index, cmd.env)}\``;
        return { status: 'queued', text: `Queued ${list(intents)} for ${codeSpan(cmd.env)}, ${how}.`, intents };
      }
    }
  }

  async function feedback(target: CommentTarget, fn: (f: CommandFeedback) => Promise<void>): Promise<void> {
    if (!deps.feedback || target.forge === 'cli') return;
    await fn(deps.feedback).catch((err: unknown) => log.warn({ err, repo: target.repo, number: target.number }, 'could not post command feedback'));
  }

  async function react(reviews: ReviewPort | undefined, target: CommentTarget, reaction: 'eyes' | 'rocket' | 'confused'): Promise<void> {
    if (!reviews || target.forge === 'cli') return;
    await reviews.react(target.repo, target.commentId, reaction, target.number).catch((err: unknown) => log.warn({ err, reaction }, 'could not react to the command'));
  }

  return {
    /** A comment on a merge request: parse, react 👀, authorize and run each command; intents go to the queue. */
    async handleComment(event: CommentPosted, index: ConfigIndex, invalidate: () => void): Promise<{ intents: Intent[]; notes: string[] }> {
      const known = { envs: Object.keys(index.config.environments), images: Object.keys(index.config.images) };
      const before = previousBodyOf(event);
      // An edit whose earlier text is unknown (a GitLab note Baton did not see created) runs nothing: re-running old commands is worse.
      if (!before.known) return { intents: [], notes: ['an edited comment whose earlier text is unknown; write a new comment to run commands'] };
      const parsed = parseComment(event.body, { known, ...(before.body !== undefined && { previousBody: before.body }) });
      if (parsed.kind === 'ignore') return { intents: [], notes: [parsed.reason] };
      const target: CommentTarget = { forge: event.repo.forge, repo: event.repo.path, number: event.number, commentId: event.commentId, author: event.author };
      const reviews = event.repo.forge === deps.forge.kind ? deps.forge.reviews : undefined;
      await react(reviews, target, 'eyes');
      if (!reviews) {
        log.warn({ repo: formatRepoRef(event.repo) }, 'a /baton command came from a forge Baton has no access to; it cannot check roles, so nothing runs');
        return { intents: [], notes: ['commands need the forge that holds the env repository, to check roles'] };
      }
      const role: ForgeRole = await reviews.roleOf(target.repo, event.author);
      const mr = reviews.mergeRequest
        ? await reviews.mergeRequest(target.repo, event.number).catch((err: unknown) => {
            log.warn({ err, repo: target.repo, number: event.number }, 'could not read the merge request; fork-sensitive commands are refused');
            return undefined;
          })
        : undefined;
      const intents: Intent[] = [];
      const notes: string[] = [];
      const replies: string[] = [];
      const results: CommandResultEntry[] = [];
      let queued = false;
      for (const line of parsed.lines) {
        if (line.kind === 'reply') {
          replies.push(line.text);
          continue;
        }
        const cmd = line.command;
        const label = commandLabel(cmd);
        const cause: Cause = {
          source: event.source,
          deliveryId: event.deliveryId,
          actor: event.author,
          command: label,
          comment: { forge: event.repo.forge, repo: target.repo, number: event.number, commentId: event.commentId },
        };
        const result = await run(cmd, { index, actor: event.author, role, target, ...(mr && { mr }), commentRepo: formatRepoRef(event.repo), reviews, cause, invalidate, event });
        notes.push(`${label}: ${result.status}`);
        if (result.status === 'refused') replies.push(result.text);
        else {
          results.push({ command: label, author: event.author, ok: true, text: result.text });
          if (result.status === 'queued') {
            queued = true;
            intents.push(...result.intents);
          }
        }
      }
      // One reply and one result update per comment, however many commands it held.
      if (replies.length > 0) await feedback(target, (f) => f.reply(target, replies));
      if (results.length > 0) await feedback(target, (f) => f.result(target, results));
      // Commands that wrote through the queue get their 🚀 / 😕 when the write lands.
      if (replies.length > 0) await react(reviews, target, 'confused');
      else if (!queued) await react(reviews, target, 'rocket');
      return { intents, notes };
    },

    /** The CLI: the same commands for operators (trusted as `admin`), acting as `actor`. */
    async runCli(cmd: Command, actor: string, index: ConfigIndex, invalidate: () => void): Promise<CommandRun> {
      const target: CommentTarget = { forge: 'cli', repo: '', number: 0, commentId: '', author: actor };
      const cause: Cause = { source: 'cli', deliveryId: `cli-${deps.now()}`, actor, command: commandLabel(cmd), comment: { forge: 'cli', repo: '', number: 0, commentId: '' } };
      return run(cmd, { index, actor, role: 'admin', target, cause, invalidate });
    },

    /** Just before the write: drop intents whose commenter no longer has an allowed role. */
    async recheck(intents: Intent[], index: ConfigIndex | undefined): Promise<Intent[]> {
      const kept: Intent[] = [];
      const roles = new Map<string, Promise<ForgeRole>>();
      for (const i of intents) {
        const c = i.cause.comment;
        const actor = i.cause.actor;
        const name = i.cause.command?.split(' ')[0] ?? '';
        if (i.type !== 'set-image' || !c || c.forge === 'cli' || !actor || !GUARDED.has(name)) {
          kept.push(i);
          continue;
        }
        const reviews = deps.forge.reviews;
        const approvers = index?.config.environments[i.env]?.approvers ?? [];
        const key = `${c.repo}\u0000${actor}`;
        if (!roles.has(key)) roles.set(key, reviews ? reviews.roleOf(c.repo, actor) : Promise.resolve('none'));
        const role = (await roles.get(key)) ?? 'none';
        if (approvers.some((a) => a === role)) kept.push(i);
        else {
          log.warn({ actor, role, env: i.env, image: i.image }, 'command dropped: the commenter no longer has an allowed role');
          const target: CommentTarget = { forge: c.forge, repo: c.repo, number: c.number, commentId: c.commentId, author: actor };
          await feedback(target, (f) => f.reply(target, [`\`${i.cause.command ?? ''}\` was not carried out: ${codeSpan(actor)} now has the role \`${role}\`, and ${i.env} needs ${approvers.map((a) => `\`${a}\``).join(' or ')}.`]));
          await react(reviews, target, 'confused');
        }
      }
      return kept;
    },

    /**
     * A comment's work was refused for good and parked as a dead letter: its author hears why, once,
     * with 😕 (the operator can retry it with `baton retry`).
     */
    async onParked(event: Event, reason: string): Promise<void> {
      if (event.type !== 'comment' || event.repo.forge === 'git') return;
      const target: CommentTarget = { forge: event.repo.forge, repo: event.repo.path, number: event.number, commentId: event.commentId, author: event.author };
      // Bounded inside the sanitizer, so no escape or entity is cut in half.
      const why = escapeMarkdown(Array.from(reason).slice(0, 400).join(''));
      await feedback(target, (f) => f.reply(target, [`Your command could not be carried out: ${why}. An operator can run it again with ${codeSpan(`baton retry ${event.source}:${event.deliveryId}`, 120)} once the cause is fixed.`]));
      await react(deps.forge.reviews, target, 'confused');
    },

    /** A batch landed (or needed nothing): tell each command comment in it how it went. */
    async onOutcome(outcome: Outcome): Promise<void> {
      const byComment = new Map<string, { target: CommentTarget; command: string; lines: string[]; ok: boolean }>();
      const entry = (c: Cause) => {
        const cm = c.comment;
        if (!cm || cm.forge === 'cli' || !c.actor) return undefined;
        const k = `${cm.repo}\u0000${cm.commentId}\u0000${c.command ?? ''}`;
        let e = byComment.get(k);
        if (!e) {
          e = { target: { forge: cm.forge, repo: cm.repo, number: cm.number, commentId: cm.commentId, author: c.actor }, command: c.command ?? '', lines: [], ok: true };
          byComment.set(k, e);
        }
        return e;
      };
      const where = outcome.status === 'committed' ? (outcome.mergeRequest ? ` in ${outcome.mergeRequest.url}` : ` in ${outcome.commit.slice(0, 7)}`) : '';
      for (const b of outcome.bumps) for (const c of b.causes) entry(c)?.lines.push(`- ${b.image} ${b.from ?? '—'} → ${b.to} in ${b.env}${where}${c.sourceRef ? ` (built from ${codeSpan(c.sourceRef, 120)})` : ''}`);
      for (const s of outcome.skipped) for (const c of s.causes) entry(c)?.lines.push(`- ${s.image}: ${codeSpan(s.reason, 200)}`);
      if (outcome.problems.length > 0) {
        for (const e of byComment.values()) {
          e.ok = false;
          e.lines.push(...outcome.problems.map((p) => `- ⚠️ ${codeSpan(p.message, 300)}`));
        }
      }
      const reviews = deps.forge.reviews;
      for (const e of byComment.values()) {
        await feedback(e.target, (f) => f.result(e.target, [{ command: e.command, author: e.target.author, ok: e.ok, text: e.lines.join('\n') }]));
        await react(reviews, e.target, e.ok ? 'rocket' : 'confused');
      }
    },
  };
}

export type Commands = ReturnType<typeof createCommands>;
