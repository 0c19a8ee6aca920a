import type { Readable } from 'node:stream';

/**
 * Where bytes live: space storage and artifacts, under keys the storage service builds (see keys.ts). One
 * interface, an S3 adapter for distributed mode and a filesystem adapter for local mode; the service never knows
 * which one it has. Every body is a stream: nothing here holds a whole object in memory.
 */
export interface ObjectStore {
  readonly kind: 'fs' | 's3';
  /**
   * Stores `body` under `key`, replacing what was there only once every byte has arrived (a failed or refused
   * upload leaves the old object as it was). Size and sha256 are computed while the bytes stream through.
   * Past `maxBytes` it stops reading and rejects with ObjectTooLargeError, storing nothing.
   */
  put(key: string, body: Readable, options?: PutOptions): Promise<PutResult>;
  /** The object's bytes, all or one range; null when there is no such object. */
  get(key: string, options?: GetOptions): Promise<ObjectRead | null>;
  head(key: string): Promise<ObjectHead | null>;
  /** Removing an object that is not there is not an error. */
  delete(key: string): Promise<void>;
  /** Keys starting with `prefix`, in key order, after `startAfter`; `nextStartAfter` is set when more remain. */
  list(prefix: string, options?: ListOptions): Promise<ObjectList>;
  /**
   * A URL that serves the object's bytes to anyone holding it until it expires; null when the store has none to
   * give (the filesystem store), so callers stream the bytes instead.
   */
  presignGet(key: string, options: PresignOptions): Promise<string | null>;
  /** Throws when the store cannot be reached (readiness). */
  ping(): Promise<void>;
}

export interface PutOptions {
  contentType?: string;
  maxBytes?: number;
}

export interface PutResult {
  size: number;
  /** Lowercase hex. */
  sha256: string;
}

/** Inclusive byte offsets, already checked against the object's size by the caller. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface GetOptions {
  range?: ByteRange;
}

export interface ObjectRead {
  body: Readable;
  /** The whole object's size, whatever part of it `body` carries. */
  size: number;
  /** The part `body` carries; null when it is the whole object. */
  range: ByteRange | null;
}

export interface ObjectHead {
  size: number;
}

export interface ListOptions {
  startAfter?: string;
  limit?: number;
}

export interface ListedObject {
  key: string;
  size: number;
}

export interface ObjectList {
  objects: ListedObject[];
  nextStartAfter: string | null;
}

export interface PresignOptions {
  ttlSeconds: number;
  /** Served as `Content-Disposition: attachment; filename=…`. */
  fileName?: string;
  contentType?: string;
}

/** A body longer than the limit it was put with: nothing was stored. */
export class ObjectTooLargeError extends Error {
  constructor(readonly maxBytes: number) {
    super(`The object is larger than ${maxBytes} bytes.`);
    this.name = 'ObjectTooLargeError';
  }
}

/** A range that starts past the object's end. */
export class RangeNotSatisfiableError extends Error {
  constructor(readonly size: number) {
    super(`The range is outside the object's ${size} bytes.`);
    this.name = 'RangeNotSatisfiableError';
  }
}

/** Thrown for a key the store refuses to map (it would leave the store's root, or is malformed). */
export class InvalidKeyError extends Error {
  constructor(key: string) {
    super(`Invalid object key ${JSON.stringify(key.slice(0, 200))}`);
    this.name = 'InvalidKeyError';
  }
}
