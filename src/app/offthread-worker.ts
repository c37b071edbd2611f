/** Worker-thread entry: one parse or plan of large files, away from the event loop that answers webhooks. */

import { parentPort, workerData } from 'node:worker_threads';
import { parseConfig } from '../config/load.js';
import { plan } from '../core/plan.js';
import type { OffThreadJob } from './offthread.js';

const job = workerData as OffThreadJob;
const result = job.kind === 'plan' ? plan(job.intents, job.files, job.options) : parseConfig(job.text, job.options);
parentPort?.postMessage(result);
