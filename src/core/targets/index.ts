/** Every target kind Baton knows; a file is searched by all of them. */

import { kustomize } from './kustomize.js';
import type { TargetKind } from './types.js';

export const targetKinds: readonly TargetKind[] = [kustomize];
