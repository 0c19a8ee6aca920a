import type { Readable } from 'node:stream';
import type { Principal } from '@bctrl/core';
import type { ByteRange } from '../object-store/object-store';

/*
 * The byte half of the storage service: what cannot go over NATS. The gateway holds a port of this shape (its
 * StorageDataPlane) and gets either this service itself (local mode, one process) or an HTTP client of the storage
 * app's data-plane server (distributed mode), which calls this same service on the other side.
 */

/** What a reader needs to answer with the bytes: headers, validators, a file name for downloads. */
export interface ObjectMeta {
  size: number;
  sha256: string;
  contentType: string;
  /** RFC 3339: Last-Modified. */
  modifiedAt: string;
  /** For Content-Disposition (artifacts); null for space storage. */
  fileName: string | null;
}

export interface ByteRead {
  meta: ObjectMeta;
  /** The part `body` carries; null for the whole object. */
  range: ByteRange | null;
  /** null for a HEAD. */
  body: Readable | null;
}

export interface SpaceObjectView {
  spaceId: string;
  path: string;
  size: number;
  sha256: string;
  contentType: string;
  updatedAt: string;
}

export interface PutObjectRequest {
  spaceId: string;
  path: string;
  contentType: string;
  /** From Content-Length; null when the body is chunked. A declared length over the limit is refused unread. */
  contentLength: number | null;
  body: Readable;
}

export interface ReadObjectRequest {
  spaceId: string;
  path: string;
  /** The tenant's Range header, as sent. */
  range?: string;
  head?: boolean;
}

export interface ReadArtifactRequest {
  artifactId: string;
  range?: string;
  head?: boolean;
}

export interface StorageDataPlane {
  putObject(principal: Principal, request: PutObjectRequest): Promise<SpaceObjectView>;
  readObject(principal: Principal, request: ReadObjectRequest): Promise<ByteRead>;
  readArtifact(principal: Principal, request: ReadArtifactRequest): Promise<ByteRead>;
}
