import { Injectable } from '@nestjs/common';
import { storageV1 } from '@bctrl/contracts';
import { BctrlError, type Principal, requireKey } from '@bctrl/core';
import { ArtifactsService, checkArtifactSpec } from '../artifacts/artifacts.service';
import { ObjectsService } from '../objects/objects.service';
import { openSource, putToTarget } from './source';

/**
 * Space objects to and from other HTTP endpoints — a runtime agent's file API, for staging and collecting runtime
 * files. Storage moves the bytes itself, streamed end to end; the caller only names the endpoint. The tenant's key
 * travels with the call, so the same scope rules as the public storage routes decide what it may read or write.
 */
@Injectable()
export class TransfersService {
  constructor(
    private readonly objects: ObjectsService,
    private readonly artifacts: ArtifactsService,
  ) {}

  async exportObject(principal: Principal, request: storageV1.ExportObjectRequest) {
    requireKey(principal, 'member');
    if (!request.target?.url) throw BctrlError.validation([{ field: 'target.url', issue: 'is required' }]);
    const read = await this.objects.read(principal, { spaceId: request.spaceId, path: request.path });
    const answer = await putToTarget(
      request.target,
      read.body as NonNullable<typeof read.body>,
      read.meta.size,
      'runtime',
    );
    return { size: BigInt(read.meta.size), sha256: read.meta.sha256, targetResponse: answer };
  }

  async importObject(principal: Principal, request: storageV1.ImportObjectRequest) {
    requireKey(principal, 'member');
    if (!request.source?.url) throw BctrlError.validation([{ field: 'source.url', issue: 'is required' }]);
    const spec = request.artifact ? { ...request.artifact, spaceId: request.spaceId } : null;
    if (spec) {
      const details = checkArtifactSpec(spec);
      if (details.length > 0) throw BctrlError.validation(details, 'The artifact to keep is not valid.');
    }
    const source = await openSource(request.source, 'runtime');
    const object = await this.objects.put(principal, {
      spaceId: request.spaceId,
      path: request.path,
      contentType: source.contentType && source.contentType !== 'application/octet-stream' ? source.contentType : '',
      contentLength: source.contentLength,
      body: source.body,
    });
    if (!spec) return { object: toSpaceObject(object) };
    // The artifact is a copy of the stored object, read back from the store: one fetch from the runtime either way.
    const stored = await this.objects.read(principal, { spaceId: request.spaceId, path: object.path });
    const artifact = await this.artifacts.record(
      spec,
      stored.body as NonNullable<typeof stored.body>,
      object.contentType || 'application/octet-stream',
    );
    return { object: toSpaceObject(object), artifact };
  }
}

function toSpaceObject(view: Awaited<ReturnType<ObjectsService['put']>>) {
  return {
    spaceId: view.spaceId,
    path: view.path,
    size: BigInt(view.size),
    sha256: view.sha256,
    contentType: view.contentType,
    updatedAt: view.updatedAt,
  };
}
