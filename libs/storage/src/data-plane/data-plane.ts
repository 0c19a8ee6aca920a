import type { Readable } from 'node:stream';
import type { ByteRead, SpaceObjectView } from '@bctrl/contracts';
import type { Principal } from '@bctrl/core';

export type { ByteRead, ObjectMeta, SpaceObjectView } from '@bctrl/contracts';

/*
 * The byte half of the storage service: what cannot go over NATS. The gateway holds a port of this shape (its
 * StorageDataPlane) and gets either this service itself (local mode, one process) or an HTTP client of the storage
 * app's data-plane server (distributed mode), which calls this same service on the other side.
 */

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
