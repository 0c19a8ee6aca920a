import { Injectable } from '@nestjs/common';
import type { Principal } from '@bctrl/core';
import { ArtifactsService } from '../artifacts/artifacts.service';
import { ObjectsService } from '../objects/objects.service';
import type {
  ByteRead,
  PutObjectRequest,
  ReadArtifactRequest,
  ReadObjectRequest,
  SpaceObjectView,
  StorageDataPlane,
} from './data-plane';

/** The data plane as the service itself: what local mode hands the gateway, and what the HTTP server calls. */
@Injectable()
export class LocalStorageDataPlane implements StorageDataPlane {
  constructor(
    private readonly objects: ObjectsService,
    private readonly artifacts: ArtifactsService,
  ) {}

  putObject(principal: Principal, request: PutObjectRequest): Promise<SpaceObjectView> {
    return this.objects.put(principal, request);
  }

  readObject(principal: Principal, request: ReadObjectRequest): Promise<ByteRead> {
    return this.objects.read(principal, request);
  }

  readArtifact(principal: Principal, request: ReadArtifactRequest): Promise<ByteRead> {
    return this.artifacts.read(principal, request);
  }
}
