/**
 * `npm run bench`: every `bench/*.bench.ts` module, each printing figures as ratios against a
 * baseline measured in the same run (machines here are noisy; absolute numbers mean little).
 */

import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export interface BenchModule {
  title: string;
  run(): Promise<string[]>;
}

const here = dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);
const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort();

for (const f of files) {
  const mod = (await import(pathToFileURL(join(here, f)).href)) as { default: BenchModule };
  console.log(`\n## ${mod.default.title}  (${f})`);
  for (const line of await mod.default.run()) console.log(line);
}
process.exit(0);
