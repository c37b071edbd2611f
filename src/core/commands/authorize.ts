/** Who may run which `/baton` command where: a pure matrix over the commenter's forge role. */

import { codeSpan } from './escape.js';
import type { Command } from './parse.js';

export type ForgeRole = 'admin' | 'maintain' | 'write' | 'triage' | 'read' | 'none';

/** Roles that may ask for a fork's preview when no environment is concerned. */
export const PREVIEW_APPROVERS: readonly ForgeRole[] = ['maintain', 'admin'];

export interface AuthContext {
  user: string;
  role: ForgeRole;
  /** `environments.<env>.approvers` of the command's environment (absent for commands without one). */
  approvers?: readonly ForgeRole[];
  /** The merge request the comment is on comes from a fork, and the commenter is its author. */
  forkAuthor: boolean;
  /** The merge request comes from a fork (previews of forks need an approver). */
  fromFork: boolean;
}

export type Decision = { allowed: true } | { allowed: false; reason: string };

const OPEN = new Set(['help', 'status', 'diff']);

function roleList(roles: readonly ForgeRole[]): string {
  return roles.length === 0 ? 'nobody (the list is empty)' : roles.map((r) => `\`${r}\``).join(' or ');
}

export function commandLabel(c: Command): string {
  switch (c.name) {
    case 'help':
    case 'status':
      return c.name;
    case 'preview':
      return c.destroy ? 'preview destroy' : 'preview';
    default:
      return `${c.name} ${c.env}`;
  }
}

export function authorize(command: Command, ctx: AuthContext): Decision {
  if (OPEN.has(command.name)) return { allowed: true };
  const label = `\`${commandLabel(command)}\``;
  if (command.name === 'preview') {
    if (!ctx.fromFork) return { allowed: true };
    if (ctx.forkAuthor) return { allowed: false, reason: `${label} on a pull request from a fork must come from a ${roleList(PREVIEW_APPROVERS)}, not from its author.` };
    return PREVIEW_APPROVERS.includes(ctx.role)
      ? { allowed: true }
      : { allowed: false, reason: `${label} for a pull request from a fork needs the role ${roleList(PREVIEW_APPROVERS)}; ${codeSpan(ctx.user)} has \`${ctx.role}\`.` };
  }
  if ((command.name === 'deploy' || command.name === 'promote') && ctx.forkAuthor) {
    return { allowed: false, reason: `${label} cannot be run by the author of a pull request from a fork, whatever their role.` };
  }
  const approvers = ctx.approvers ?? [];
  if (approvers.includes(ctx.role)) return { allowed: true };
  const env = 'env' in command ? command.env : '';
  return { allowed: false, reason: `${label} needs the role ${roleList(approvers)} (\`environments.${env}.approvers\`); ${codeSpan(ctx.user)} has \`${ctx.role}\`.` };
}
