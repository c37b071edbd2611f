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
 * A scalar that holds (part of) the image reference.
 * `tag` and `digest` hold just that part; `ref` holds a whole `name:tag@digest` reference.
 */
export interface Slot {
  kind: string;
  doc: number;
  path: YamlPath;
  node: Scalar;
  role: 'tag' | 'digest' | 'ref';
  current: string;
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
}

export interface TargetKind {
  id: string;
  find(src: YamlSource, want: ImageSelector): Found;
}
