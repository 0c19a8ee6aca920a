import { pipeline, Transform, type TransformCallback } from 'node:stream';
import { Injectable } from '@nestjs/common';
import type { Principal } from '@bctrl/core';
import { platformInstruments } from '@bctrl/telemetry';
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

/**
 * The data plane as the service itself: what local mode hands the gateway, and what the HTTP server calls. It is
 * where every object and artifact byte passes in both modes, so it counts them (`bctrl.storage.bytes`).
 */
@Injectable()
export class LocalStorageDataPlane implements StorageDataPlane {
  constructor(
    private readonly objects: ObjectsService,
    private readonly artifacts: ArtifactsService,
  ) {}

  async putObject(principal: Principal, request: PutObjectRequest): Promise<SpaceObjectView> {
    const stored = await this.objects.put(principal, request);
    // Counted once stored: a refused or broken upload leaves nothing in the store.
    platformInstruments().storageBytes.add(stored.size, { direction: 'in' });
    return stored;
  }

  async readObject(principal: Principal, request: ReadObjectRequest): Promise<ByteRead> {
    return countedOut(await this.objects.read(principal, request));
  }

  async readArtifact(principal: Principal, request: ReadArtifactRequest): Promise<ByteRead> {
    return countedOut(await this.artifacts.read(principal, request));
  }
}

/** The read with its body counted as it is consumed, so a download abandoned halfway counts what was sent. */
function countedOut(read: ByteRead): ByteRead {
  if (!read.body) return read;
  // pipeline ties the two together: an error on either side, or the reader going away, destroys both, so the
  // store's file or socket is released exactly as it was when the reader held the body itself.
  const counted = pipeline(read.body, new CountingStream(), () => undefined);
  return { ...read, body: counted };
}

class CountingStream extends Transform {
  private readonly bytes = platformInstruments().storageBytes;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    // One add per chunk (16–64 KiB): nothing beside moving the chunk, and a long download shows as it goes.
    this.bytes.add(chunk.length, { direction: 'out' });
    callback(null, chunk);
  }
}
