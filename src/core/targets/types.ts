/** The contract between target kinds (kustomize, manifests, helm values, …) and the edit engine. */

import type { Scalar } from 'yaml';
import type { YamlPath, YamlSource } from '../yaml/source.js';

/** What to look for in a file: one image of `.baton.yml`. */
export interface ImageSelector {
  /** Service name (the key under `images:`), which markers refer to. */
  image: string;
  /** Normalized full repository. */
  repository: string;
  /** Helm values path of the tag, when the target names one. */
  key?: string;
  digestKey?: string;
}

/**
 * What part of the image reference a scalar holds. `ref` is a whole `name:tag@digest` (the name is
 * kept as written); `name` is only the repository (Flux's `:name` marker), which a bump never changes.
 */
export type SlotRole = 'tag' | 'digest' | 'ref' | 'name';

/** A scalar that holds (part of) the image reference. */
export interface Slot {
  kind: string;
  doc: number;
  /** The node in the document; when the file reaches it through an alias, the anchored node. */
  node: Scalar;
  role: SlotRole;
  /** The scalar's current text, including `prefix`. */
  current: string;
  /** Text before the reference that stays as is: the `old=` of Argo CD's `old=new:tag` kustomize images. */
  prefix?: string;
}

/** A key that must be added because it is absent (a Kustomize entry gaining `digest` when pinning). */
export interface Insertion {
  kind: string;
  doc: number;
  /** Path of the map the key goes into. */
  mapPath: YamlPath;
  /** Insert the new key on the line after this key of the same map. */
  afterKey: string;
  key: string;
  role: 'tag' | 'digest';
}

export interface Found {
  slots: Slot[];
  /** Keys to add when the new value needs them (only used when pinning a digest, or setting a tag). */
  insertions: Insertion[];
  /** Why a reference the user pointed at could not be used (a marker on nothing, a digestKey with no place); the file is refused. */
  problems?: FindProblem[];
}

export interface FindProblem {
  message: string;
  /** Only a problem when the change pins a digest (a missing `digestKey` does not matter for a tag-only bump). */
  whenPinning?: boolean;
}

export interface TargetKind {
  id: string;
  find(src: YamlSource, want: ImageSelector): Found;
}

export function emptyFound(): Found {
  return { slots: [], insertions: [], problems: [] };
}
