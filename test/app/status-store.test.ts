/** The status file: bounded, saved off the hot path, and a hostile or broken file is read as what is valid in it. */

import { readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { StatusStore } from '../../src/app/status.js';
import { tempDir } from '../helpers/git-repo.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function file(): Promise<string> {
  const d = await tempDir('baton-status-');
  dirs.push(d);
  return join(d, 'state', 'status.json');
}

describe('StatusStore', () => {
  it('keeps the last event per environment × image and the last version written, across a restart', async () => {
    const path = await file();
    const store = new StatusStore(path, () => Date.parse('2026-12-01T10:00:00Z'));
    store.record('staging', 'web', { source: 'registry/distribution', deliveryId: 'd1', tag: '1.1.0', result: 'written', commit: 'a'.repeat(40), branch: 'main' });
    store.record('staging', 'web', { source: 'registry/distribution', deliveryId: 'd2', tag: '1.0.5', result: 'skipped', code: 'downgrade', reason: 'staging already runs 1.1.0, newer than 1.0.5' });
    await store.flush();
    const again = new StatusStore(path, () => 0);
    await again.load();
    expect(again.cells()).toEqual([
      {
        env: 'staging',
        image: 'web',
        written: { version: '1.1.0', commit: 'a'.repeat(40), at: '2026-12-01T10:00:00.000Z' },
        last: { at: '2026-12-01T10:00:00.000Z', source: 'registry/distribution', deliveryId: 'd2', tag: '1.0.5', result: 'skipped', code: 'downgrade', reason: 'staging already runs 1.1.0, newer than 1.0.5' },
      },
    ]);
  });

  it('bounds what a stranger wrote: one line, cut reasons, at most 20 unmatched events and 1,000 cells', async () => {
    const store = new StatusStore(undefined, () => 0);
    store.unmatched({ source: 's', deliveryId: 'x\u001b[31mred\nline', tag: 't', result: 'skipped', code: 'no-image', reason: 'r'.repeat(5_000), repository: 'evil.example.com/a' });
    const [u] = store.unmatchedEvents();
    expect(u?.deliveryId).toBe('x [31mred line');
    expect(u?.reason?.length).toBeLessThanOrEqual(500);
    for (let i = 0; i < 30; i++) store.unmatched({ source: 's', deliveryId: `d${i}`, tag: 't', result: 'skipped' });
    expect(store.unmatchedEvents().map((e) => e.deliveryId)).toEqual(Array.from({ length: 20 }, (_, i) => `d${i + 10}`));
    for (let i = 0; i < 1_050; i++) store.record('env', `image-${i}`, { source: 's', deliveryId: 'd', tag: 't', result: 'pending' });
    const cells = store.cells();
    expect(cells).toHaveLength(1_000);
    expect(cells[0]?.image).toBe('image-50');
  });

  it('reads a broken or hostile file as empty, or as its valid entries', async () => {
    const path = await file();
    await mkdir(join(path, '..'), { recursive: true });
    await writeFile(path, '{"cells": ');
    const broken = new StatusStore(path, () => 0);
    await broken.load();
    expect(broken.cells()).toEqual([]);

    const path2 = await file();
    await mkdir(join(path2, '..'), { recursive: true });
    const good = { env: 'staging', image: 'web', written: { version: '1.0.0', commit: 'c', at: 'now' } };
    const cells = JSON.stringify({ 'staging/web': good, bad: { env: 1 }, worse: { env: 'e', image: 'i', written: { version: {} } } });
    const unmatched = JSON.stringify([null, 'x', { at: 'a', source: 's', deliveryId: 'd', tag: 't', result: 'skipped' }]);
    await writeFile(path2, `{"cells": {"__proto__": {"env": "p", "image": "q", "polluted": true}, ${cells.slice(1)}, "unmatched": ${unmatched}}`);
    const hostile = new StatusStore(path2, () => 0);
    await hostile.load();
    expect(hostile.cells()).toEqual([good]);
    expect(hostile.unmatchedEvents().map((e) => e.deliveryId)).toEqual(['d']);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('writes the file at most once a second, not on every event', async () => {
    const path = await file();
    const store = new StatusStore(path, () => 0);
    store.record('staging', 'web', { source: 's', deliveryId: 'd', tag: '1.0.0', result: 'pending' });
    await expect(readFile(path, 'utf8')).rejects.toThrow();
    await new Promise((r) => setTimeout(r, 1_300));
    expect(JSON.parse(await readFile(path, 'utf8'))).toMatchObject({ cells: { 'staging/web': { last: { result: 'pending' } } } });
  });
});
