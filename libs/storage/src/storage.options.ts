import type { ObjectStore } from './object-store/object-store';

export interface StorageOptions {
  databaseUrl: string;
  objectStore: ObjectStore;
  /** BCTRL_STORAGE_MAX_OBJECT_BYTES: the largest upload or imported artifact. */
  maxObjectBytes: number;
  /** Lifetime of presigned artifact URLs. Default 300 s: long enough to follow a redirect, short enough to leak little. */
  presignTtlSeconds?: number;
}

export const STORAGE_OPTIONS = Symbol.for('bctrl.storage.options');
export const OBJECT_STORE = Symbol.for('bctrl.storage.object-store');
