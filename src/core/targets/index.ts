/** Every target kind Baton knows; a file is searched by all of them, and their findings are merged. */

import { argocd } from './argocd.js';
import { helmValues } from './helm-values.js';
import { kustomize } from './kustomize.js';
import { manifest } from './manifest.js';
import { markers } from './markers.js';
import type { TargetKind } from './types.js';

export const targetKinds: readonly TargetKind[] = [kustomize, manifest, helmValues, argocd, markers];
