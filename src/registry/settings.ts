/**
 * Registry client settings from the environment:
 * - `BATON_REGISTRY_CREDENTIALS`: JSON `{"registry.example.com": {"username": "u", "password": "p"}, "ghcr.io": {"token": "…"}}`.
 * - `BATON_REGISTRY_AUTH_FILE`: a Docker `config.json` (`auths.<host>.auth` = base64 `user:pass`, or username/password);
 *   entries in BATON_REGISTRY_CREDENTIALS win.
 * - `BATON_REGISTRY_INSECURE`: comma-separated hosts reached over plain HTTP (loopback hosts always are).
 */

import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { Credentials, OciClientOptions } from './client.js';

const CredentialsSchema = z.record(
  z.string(),
  z.object({ username: z.string().optional(), password: z.string().optional(), token: z.string().optional() }),
);

const DockerConfigSchema = z.object({
  auths: z.record(z.string(), z.object({ auth: z.string().optional(), username: z.string().optional(), password: z.string().optional() })).optional(),
});

/** Docker config keys are hosts or URLs (`https://index.docker.io/v1/`); reduce them to the host images use. */
function hostKey(key: string): string {
  const host = key.replace(/^https?:\/\//, '').split('/')[0] ?? key;
  return host === 'index.docker.io' || host === 'registry-1.docker.io' ? 'docker.io' : host;
}

export function parseDockerConfig(text: string): Map<string, Credentials> {
  const out = new Map<string, Credentials>();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error('the registry auth file is not JSON');
  }
  const parsed = DockerConfigSchema.safeParse(json);
  if (!parsed.success) throw new Error('the registry auth file is not a Docker config.json');
  for (const [key, entry] of Object.entries(parsed.data.auths ?? {})) {
    if (entry.username !== undefined && entry.password !== undefined) {
      out.set(hostKey(key), { username: entry.username, password: entry.password });
    } else if (entry.auth) {
      const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon > 0) out.set(hostKey(key), { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) });
    }
  }
  return out;
}

/** Client options from the environment. Throws with a message naming the setting when one is malformed (never its value). */
export function registryClientOptions(env: Readonly<Record<string, string | undefined>>, readFile: (path: string) => string = (p) => readFileSync(p, 'utf8')): OciClientOptions {
  const creds = new Map<string, Credentials>();
  const file = env['BATON_REGISTRY_AUTH_FILE'];
  if (file) for (const [k, v] of parseDockerConfig(readFile(file))) creds.set(k, v);
  const inline = env['BATON_REGISTRY_CREDENTIALS'];
  if (inline) {
    let json: unknown;
    try {
      json = JSON.parse(inline);
    } catch {
      throw new Error('BATON_REGISTRY_CREDENTIALS is not JSON');
    }
    const parsed = CredentialsSchema.safeParse(json);
    if (!parsed.success) throw new Error('BATON_REGISTRY_CREDENTIALS must map hosts to {username, password} or {token}');
    for (const [k, v] of Object.entries(parsed.data)) creds.set(hostKey(k), v);
  }
  const insecure = new Set((env['BATON_REGISTRY_INSECURE'] ?? '').split(',').map((s) => s.trim()).filter((s) => s !== ''));
  return {
    credentials: (registry) => creds.get(registry),
    insecure: (registry) => insecure.has(registry) || /^(localhost|127\.\d+\.\d+\.\d+)(:\d+)?$/.test(registry),
  };
}
