import { join } from 'node:path';
import { MemoryQueue, systemTimer } from '../../src/queue/memory.js';
import { tempDir } from '../helpers/git-repo.js';
import { queueContract } from './contract.js';

queueContract('embedded journal', {
  place: async () => join(await tempDir(), 'journal.jsonl'),
  make: (journalPath, o) =>
    new MemoryQueue({
      debounceMs: o.debounceMs,
      journalPath,
      now: o.now ?? Date.now,
      setTimer: o.fastRetry ? (fn, ms) => systemTimer(fn, Math.min(ms, 15)) : systemTimer,
      random: () => 0.5,
      ...(o.retentionMs !== undefined && { retentionMs: o.retentionMs }),
      ...(o.classify && { classify: o.classify }),
      ...(o.onPark && { onPark: o.onPark }),
    }),
  // The process died: nothing more happens in it; the journal stays as written.
  crash: async () => undefined,
  cleanup: async () => undefined,
});
