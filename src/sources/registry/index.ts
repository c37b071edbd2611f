/** Registry webhook sources by `:kind` in `POST /webhooks/registry/:kind`. */

import type { Source } from '../types.js';
import { distribution } from './distribution.js';

export const registrySources: Readonly<Record<string, Source>> = {
  distribution,
};
