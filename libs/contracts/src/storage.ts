import type { Readable } from 'node:stream';
import * as pb from './generated/bctrl/storage/v1/storage_pb';
import { defineMethod } from './method';

const SERVICE = 'storage';

/** storage's metadata calls; the bytes go over the storage data plane (STORAGE_DATA_PLANE). Wire names are frozen. */
export const StorageV1 = {
  statObject: defineMethod(SERVICE, 'storage.v1.statObject', pb.StatObjectRequestSchema, pb.SpaceObjectSchema),
  listObjects: defineMethod(
    SERVICE,
    'storage.v1.listObjects',
    pb.ListObjectsRequestSchema,
    pb.ListObjectsResponseSchema,
  ),
  deleteObject: defineMethod(
    SERVICE,
    'storage.v1.deleteObject',
    pb.DeleteObjectRequestSchema,
    pb.DeleteObjectResponseSchema,
  ),
  getArtifact: defineMethod(SERVICE, 'storage.v1.getArtifact', pb.GetArtifactRequestSchema, pb.ArtifactSchema),
  listArtifacts: defineMethod(
    SERVICE,
    'storage.v1.listArtifacts',
    pb.ListArtifactsRequestSchema,
    pb.ListArtifactsResponseSchema,
  ),
  presignArtifact: defineMethod(
    SERVICE,
    'storage.v1.presignArtifact',
    pb.PresignArtifactRequestSchema,
    pb.PresignArtifactResponseSchema,
  ),
  /** Operator only. Streams a whole file from a URL: callers pass a timeout that fits the file (minutes for a recording). */
  importArtifact: defineMethod(SERVICE, 'storage.v1.importArtifact', pb.ImportArtifactRequestSchema, pb.ArtifactSchema),
  /** Platform-internal: a space object PUT to a URL (staging into a runtime). Called with the tenant's key. */
  /** Operator only: removes a deleted space's objects and artifacts, rows and bytes. */
  purgeSpace: defineMethod(SERVICE, 'storage.v1.purgeSpace', pb.PurgeSpaceRequestSchema, pb.PurgeSpaceResponseSchema),
  exportObject: defineMethod(
    SERVICE,
    'storage.v1.exportObject',
    pb.ExportObjectRequestSchema,
    pb.ExportObjectResponseSchema,
  ),
  /** Platform-internal: a URL's bytes into a space object, optionally also an artifact (collecting from a runtime). */
  importObject: defineMethod(
    SERVICE,
    'storage.v1.importObject',
    pb.ImportObjectRequestSchema,
    pb.ImportObjectResponseSchema,
  ),
} as const;

export const ARTIFACT_KINDS = ['download', 'screenshot', 'recording', 'pdf', 'file'] as const;
export type ArtifactKind = (typeof ARTIFACT_KINDS)[number];

/**
 * The storage data plane's HTTP form (distributed mode: the storage app on BCTRL_STORAGE_PORT, called by the
 * gateway only). Frozen like subjects: gateways and storage replicas of different versions talk through it.
 * - `PUT|GET|HEAD /v1/objects?spaceId=&path=`, `GET|HEAD /v1/artifacts/content?artifactId=`
 * - the caller's principal in `bctrl-principal` (as on NATS), `Range` passed through as the tenant sent it
 * - the answer's metadata in `bctrl-object` (base64 JSON), the part sent in `content-range`
 * - errors as `{"error": {code, message, details}}` with the code's status
 */
export const STORAGE_DATA_PLANE = {
  objectsPath: '/v1/objects',
  artifactContentPath: '/v1/artifacts/content',
  metadataHeader: 'bctrl-object',
} as const;

/*
 * The byte data plane's shapes, shared by its two ends: the storage service (which implements it) and the gateway
 * (which holds a port of it: the service itself in local mode, an HTTP client of the storage app in distributed mode).
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
  /** The part `body` carries (inclusive byte offsets); null for the whole object. */
  range: { start: number; end: number } | null;
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
