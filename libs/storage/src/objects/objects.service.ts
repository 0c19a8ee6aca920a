import type { MessageInitShape } from '@bufbuild/protobuf';
import { Inject, Injectable } from '@nestjs/common';
import { SpacesV1, storageV1 } from '@bctrl/contracts';
import {
  BctrlError,
  isId,
  type KeyPrincipal,
  pageLimit,
  type Principal,
  requireKey,
  requireOperator,
  requireStoragePath,
} from '@bctrl/core';
import { TRANSPORT, type Transport } from '@bctrl/transport';
import { ArtifactsRepository } from '../artifacts/artifacts.repository';
import { resolveRange } from '../data-plane/byte-range';
import type { ByteRead, PutObjectRequest, ReadObjectRequest, SpaceObjectView } from '../data-plane/data-plane';
import type { SpaceObject } from '../generated/prisma/client';
import { decodePathCursor, encodePathCursor, newObjectVersion, spaceObjectKey } from '../keys';
import { type ObjectStore, ObjectTooLargeError } from '../object-store/object-store';
import { OBJECT_STORE, STORAGE_OPTIONS, type StorageOptions } from '../storage.options';
import { ObjectsRepository } from './objects.repository';

export function renderObject(row: SpaceObject): SpaceObjectView {
  return {
    spaceId: row.spaceId,
    path: row.path,
    size: Number(row.size),
    sha256: row.sha256,
    contentType: row.contentType,
    updatedAt: row.updatedAt.toISOString(),
  };
}

const toMessage = (row: SpaceObject): MessageInitShape<typeof storageV1.SpaceObjectSchema> => ({
  ...renderObject(row),
  size: row.size,
});

export function tooLarge(maxBytes: number): BctrlError {
  return new BctrlError('payload_too_large', `The body is larger than this installation's ${maxBytes}-byte limit.`);
}

/**
 * Space storage: bytes in the object store at `spaces/<spaceId>/storage/<path>`, one row per live object beside them
 * (what lists, scoping and HEAD read). A row is written only once its bytes are whole, so a failed upload changes
 * nothing a reader sees; each upload's bytes have a key of their own (its version), so racing uploads and deletes of one
 * path always leave a row that describes the bytes it names.
 */
@Injectable()
export class ObjectsService {
  constructor(
    private readonly objects: ObjectsRepository,
    private readonly artifacts: ArtifactsRepository,
    @Inject(OBJECT_STORE) private readonly store: ObjectStore,
    @Inject(STORAGE_OPTIONS) private readonly options: StorageOptions,
    @Inject(TRANSPORT) private readonly transport: Transport,
  ) {}

  async put(principal: Principal, request: PutObjectRequest): Promise<SpaceObjectView> {
    const key = requireKey(principal, 'member');
    const path = requireStoragePath(request.path);
    const max = this.options.maxObjectBytes;
    if (request.contentLength !== null && request.contentLength > max) throw tooLarge(max);
    // Also the scope check: a space the key cannot see is not found, exactly like a missing one.
    const space = await this.transport.request(SpacesV1.getSpace, { spaceId: request.spaceId }, { principal: key });
    const contentType = request.contentType || 'application/octet-stream';
    const version = newObjectVersion();
    const objectKey = spaceObjectKey(space.id, path, version);
    let stored;
    try {
      stored = await this.store.put(objectKey, request.body, { contentType, maxBytes: max });
    } catch (error) {
      await this.discard(objectKey);
      if (error instanceof ObjectTooLargeError) throw tooLarge(max);
      throw uploadFailure(error);
    }
    const row: SpaceObject = {
      spaceId: space.id,
      path,
      accountId: space.accountId,
      subaccountId: space.subaccountId || null,
      size: BigInt(stored.size),
      sha256: stored.sha256,
      contentType,
      updatedAt: new Date(),
      version,
    };
    let replaced: string | null;
    try {
      if (request.contentLength !== null && stored.size !== request.contentLength) {
        throw BctrlError.validation([{ field: 'Content-Length', issue: 'does not match the bytes sent' }]);
      }
      replaced = await this.objects.swap(row);
    } catch (error) {
      // No row names these bytes: nobody can ever read them.
      await this.discard(objectKey);
      throw error;
    }
    // The bytes the row described until now; a reader that got that row just before retries (see read).
    if (replaced !== null && replaced !== version) await this.discard(spaceObjectKey(space.id, path, replaced));
    return renderObject(row);
  }

  /** Bytes no row names any more (or never will). Best effort: a key left behind is invisible, and purged with its space. */
  private async discard(objectKey: string): Promise<void> {
    try {
      await this.store.delete(objectKey);
    } catch {
      // Invisible garbage, not a failed request.
    }
  }

  async read(principal: Principal, request: ReadObjectRequest, attempt = 0): Promise<ByteRead> {
    const row = await this.findVisible(requireKey(principal, 'viewer'), request.spaceId, request.path);
    const meta = {
      size: Number(row.size),
      sha256: row.sha256,
      contentType: row.contentType,
      modifiedAt: row.updatedAt.toISOString(),
      fileName: null,
    };
    if (request.head) return { meta, range: null, body: null };
    const range = resolveRange(request.range, meta.size);
    const read = await this.store.get(spaceObjectKey(row.spaceId, row.path, row.version), range ? { range } : {});
    if (!read) {
      // Its bytes went between reading the row and opening them: a newer upload replaced them (read that one), or
      // a delete removed the object (then it is gone).
      const current = await this.findVisible(requireKey(principal, 'viewer'), request.spaceId, request.path);
      if (current.version === row.version || attempt >= 3) throw BctrlError.notFound('object');
      return this.read(principal, request, attempt + 1);
    }
    return { meta, range: read.range, body: read.body };
  }

  async stat(principal: Principal, request: storageV1.StatObjectRequest) {
    return toMessage(await this.findVisible(requireKey(principal, 'viewer'), request.spaceId, request.path));
  }

  async list(principal: Principal, request: storageV1.ListObjectsRequest) {
    const key = requireKey(principal, 'viewer');
    const prefix = requireStoragePath(request.prefix, 'prefix', { prefix: true });
    const limit = pageLimit(request.limit);
    const after = request.cursor ? decodePathCursor(request.cursor) : null;
    await this.transport.request(SpacesV1.getSpace, { spaceId: request.spaceId }, { principal: key });
    const rows = await this.objects.listInSpace(key, request.spaceId, { prefix, after, limit });
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      data: page.map(toMessage),
      nextCursor: rows.length > limit && last ? encodePathCursor(last.path) : '',
    };
  }

  async delete(principal: Principal, request: storageV1.DeleteObjectRequest) {
    const key = requireKey(principal, 'member');
    const row = await this.findVisible(key, request.spaceId, request.path);
    // The row first: bytes without a row are invisible garbage, a row without bytes would be a broken object. Only
    // the bytes of the row this delete removed go: an upload landing meanwhile keeps its own.
    for (const version of await this.objects.delete(row.spaceId, row.path)) {
      await this.store.delete(spaceObjectKey(row.spaceId, row.path, version));
    }
    return {};
  }

  /**
   * A deleted space's storage: its rows first (objects and artifacts vanish for readers at once), then every key under
   * `spaces/<id>/`, so bytes whose row never landed (an upload cut short) go too. Repeatable: a purge that failed half
   * way is finished by the next.
   */
  async purgeSpace(principal: Principal, request: storageV1.PurgeSpaceRequest) {
    requireOperator(principal);
    if (!isId('space', request.spaceId))
      throw BctrlError.validation([{ field: 'spaceId', issue: 'must be a space id' }]);
    const objects = await this.objects.deleteSpace(request.spaceId);
    const artifacts = await this.artifacts.deleteSpace(request.spaceId);
    let keys = 0;
    for (;;) {
      // Always from the start: what was listed is deleted before the next page is asked for.
      const page = await this.store.list(`spaces/${request.spaceId}/`, { limit: 500 });
      for (const object of page.objects) await this.store.delete(object.key);
      keys += page.objects.length;
      if (page.objects.length === 0 || !page.nextStartAfter) break;
    }
    return { objects: BigInt(objects), artifacts: BigInt(artifacts), keys: BigInt(keys) };
  }

  private async findVisible(key: KeyPrincipal, spaceId: string, path: string): Promise<SpaceObject> {
    requireStoragePath(path);
    const row = await this.objects.findVisible(key, spaceId, path);
    if (!row) throw BctrlError.notFound('object');
    return row;
  }
}

/** A body that broke off (client gone, bad chunking) is the sender's problem, not a server fault. */
export function uploadFailure(error: unknown): unknown {
  if (error instanceof BctrlError) return error;
  const code = (error as NodeJS.ErrnoException)?.code;
  if (code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE' || /interrupted|aborted/i.test(String(error))) {
    return BctrlError.validation([{ field: 'body', issue: 'ended before it was complete' }]);
  }
  return error;
}
