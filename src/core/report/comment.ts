/**
 * The one Baton comment per merge request, as data and as Markdown. Pure: times come in as ISO
 * strings. Sections other issues add (previews, command results) are optional fields of the model.
 */

import { escapeCode, escapeMarkdown, link } from './markdown.js';

/** The hidden marker that finds Baton's comment among all the others. */
export const REPORT_MARKER = '<!-- baton:report -->';

/** Forge limits on one comment, in characters. */
export const COMMENT_LIMITS = { github: 65_536, gitlab: 1_000_000 } as const;

export type DeployState = 'pending' | 'success' | 'failure';

export interface DeploymentRow {
  env: string;
  image: string;
  from?: string;
  to: string;
  write: 'commit' | 'merge-request';
  /** The env-repo commit that carries the change. */
  envCommit?: { sha: string; url?: string };
  /** For `write: merge-request`: the rolling MR in the env repo. */
  rollingMr?: { number: number; url: string };
  state: DeployState;
  /** What the operator said, e.g. `Synced / Healthy`, or `waiting for the rolling MR to be merged`. */
  detail?: string;
  /** The operator's message on failure. */
  message?: string;
  /** ISO time of the last change of this row. */
  at: string;
}

export interface HistoryEntry {
  at: string;
  env: string;
  image: string;
  to: string;
  state: DeployState;
  detail?: string;
}

/** A source MR that the rolling env-repo MR carries. */
export interface CarriedMr {
  repo: string;
  number: number;
  url?: string;
  title?: string;
}

/** Written by previews: one row per preview environment of this MR. */
export interface PreviewRow {
  name: string;
  state: string;
  url?: string;
  at: string;
}

/** Written by ChatOps: the answer to one `/baton` command. */
export interface CommandResultEntry {
  at: string;
  author: string;
  command: string;
  ok: boolean;
  /** Plain text, escaped here. */
  reply: string;
  /**
   * The full answer as Markdown that Baton's command module rendered itself (tables, diffs), every
   * stranger's string in it already through the Markdown sink; shown collapsed, bounded.
   */
  details?: string;
}

/** Longest rendered command answer shown in the comment. */
const DETAILS_MAX = 12_000;

export interface CommentModel {
  deployments: DeploymentRow[];
  /** Oldest first. */
  history: HistoryEntry[];
  carries?: CarriedMr[];
  previews?: PreviewRow[];
  commandResults?: CommandResultEntry[];
}

const ICON: Record<DeployState, string> = { pending: '⏳ pending', success: '✅ deployed', failure: '❌ failed' };
const MESSAGE_MAX = 1_000;

/** `2026-12-01T15:04:05.000Z` → `2026-12-01 15:04 UTC`; anything else is shown escaped. */
export function formatTime(iso: string): string {
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})/.exec(iso);
  return m ? `${m[1]} ${m[2]} UTC` : escapeMarkdown(iso, 40);
}

function version(row: { from?: string; to: string }): string {
  return row.from !== undefined && row.from !== row.to ? `${escapeCode(row.from)} → ${escapeCode(row.to)}` : escapeCode(row.to);
}

function change(row: DeploymentRow): string {
  const parts: string[] = [];
  if (row.envCommit) parts.push(link(escapeCode(row.envCommit.sha.slice(0, 7)), row.envCommit.url));
  if (row.rollingMr) parts.push(link(`MR \\#${row.rollingMr.number}`, row.rollingMr.url));
  parts.push(row.write === 'commit' ? 'commit' : 'merge request');
  return parts.join(' · ');
}

function state(row: DeploymentRow): string {
  return [ICON[row.state], row.detail !== undefined ? escapeMarkdown(row.detail, 120) : undefined, formatTime(row.at)].filter((p) => p !== undefined).join(' · ');
}

function deploymentsTable(rows: DeploymentRow[], messageMax: number): string[] {
  if (rows.length === 0) return ['Nothing deployed from here yet.'];
  const out = ['| environment | image | version | change | state |', '|---|---|---|---|---|'];
  for (const r of rows) out.push(`| ${escapeMarkdown(r.env, 63)} | ${escapeMarkdown(r.image, 63)} | ${version(r)} | ${change(r)} | ${state(r)} |`);
  const failures = rows.filter((r) => r.state === 'failure' && r.message);
  if (failures.length > 0) out.push('');
  for (const r of failures) out.push(`> **${escapeMarkdown(r.env, 63)} / ${escapeMarkdown(r.image, 63)}:** ${escapeMarkdown(r.message ?? '', messageMax)}`, '>');
  if (failures.length > 0) out.pop();
  return out;
}

function historyLine(h: HistoryEntry): string {
  return `- ${formatTime(h.at)} · ${escapeMarkdown(h.env, 63)} · ${escapeMarkdown(h.image, 63)} → ${escapeCode(h.to)} · ${ICON[h.state]}${h.detail !== undefined ? ` · ${escapeMarkdown(h.detail, 200)}` : ''}`;
}

function historyBlock(history: HistoryEntry[], omitted: number): string[] {
  if (history.length === 0 && omitted === 0) return [];
  const lines = history.map(historyLine).reverse();
  if (omitted > 0) lines.push(`- … ${omitted} older ${omitted === 1 ? 'entry' : 'entries'} not shown`);
  return ['', `<details><summary>History (${history.length + omitted})</summary>`, '', ...lines, '', '</details>'];
}

function carriesBlock(carries: CarriedMr[] | undefined): string[] {
  if (!carries || carries.length === 0) return [];
  // Without its URL a bare `#12` would link an issue of whichever repository shows the comment.
  const items = carries.map((c) => `- ${escapeMarkdown(c.repo, 200)} ${c.url !== undefined ? link(`\\#${c.number}`, c.url) : `\\#&#8203;${c.number}`}${c.title !== undefined ? ` ${escapeMarkdown(c.title, 200)}` : ''}`);
  return ['', `**Carries ${carries.length} merge ${carries.length === 1 ? 'request' : 'requests'}:**`, '', ...items];
}

function previewsBlock(previews: PreviewRow[] | undefined): string[] {
  if (!previews || previews.length === 0) return [];
  const rows = previews.map((p) => `| ${link(escapeMarkdown(p.name, 63), p.url)} | ${escapeMarkdown(p.state, 100)} | ${formatTime(p.at)} |`);
  return ['', '#### Previews', '', '| preview | state | since |', '|---|---|---|', ...rows];
}

function commandsBlock(results: CommandResultEntry[] | undefined, messageMax: number): string[] {
  if (!results || results.length === 0) return [];
  const lines = results.flatMap((c) => {
    const line = `- ${formatTime(c.at)} · ${escapeMarkdown(c.author, 63)} · ${escapeCode(c.command, 200)} · ${c.ok ? '✅' : '😕'} ${escapeMarkdown(c.reply, messageMax)}`;
    if (!c.details) return [line];
    const details = c.details.length > DETAILS_MAX ? `${c.details.slice(0, DETAILS_MAX)}\n\n… (cut)` : c.details;
    return [line, '', '  <details><summary>result</summary>', '', details, '', '  </details>', ''];
  });
  return ['', '#### Commands', '', ...lines];
}

function compose(model: CommentModel, history: HistoryEntry[], omitted: number, messageMax: number): string {
  return [
    REPORT_MARKER,
    '### Baton: deployments',
    '',
    ...deploymentsTable(model.deployments, messageMax),
    ...carriesBlock(model.carries),
    ...previewsBlock(model.previews),
    ...commandsBlock(model.commandResults, messageMax),
    ...historyBlock(history, omitted),
    '',
  ].join('\n');
}

/**
 * Render within `limit` characters: drop the oldest history first, then shorten messages, then keep
 * only the history count; a model that still does not fit is cut with a closing note.
 */
export function renderComment(model: CommentModel, limit: number = COMMENT_LIMITS.github): string {
  const fits = (s: string): boolean => Array.from(s).length <= limit;
  const full = compose(model, model.history, 0, MESSAGE_MAX);
  if (fits(full)) return full;
  // The longest suffix of history that fits: binary search on how many oldest entries to drop.
  if (model.history.length > 0) {
    let lo = 1;
    let hi = model.history.length;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      if (fits(compose(model, model.history.slice(mid), mid, MESSAGE_MAX))) hi = mid;
      else lo = mid + 1;
    }
    const trimmed = compose(model, model.history.slice(lo), lo, MESSAGE_MAX);
    if (fits(trimmed)) return trimmed;
  }
  const all = model.history.length;
  const short = compose(model, [], all, 200);
  if (fits(short)) return short;
  const note = '\n\n… the rest did not fit in one comment.\n';
  return Array.from(short).slice(0, Math.max(0, limit - note.length)).join('') + note;
}
