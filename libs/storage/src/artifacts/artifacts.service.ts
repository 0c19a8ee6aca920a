import type { Readable } from 'node:stream';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { ARTIFACT_KINDS, RunEvent, RunsV1, storageV1 } from '@bctrl/contracts';
import {
  BctrlError,
  type ErrorDetail,
  isId,
  type KeyPrincipal,
  newId,
  type Principal,
  requireKey,
  requireOperator,
  toPageMessage,
} from '@bctrl/core';
import { publishRunEvent } from '@bctrl/service';
import { TRANSPORT, type Transport } from '@bctrl/transport';
import { resolveRange } from '../data-plane/byte-range';
import type { ByteRead, ReadArtifactRequest } from '../data-plane/data-plane';
import type { Artifact } from '../generated/prisma/client';
import { artifactKey, safeArtifactName } from '../keys';
import { type ObjectStore, ObjectTooLargeError } from '../object-store/object-store';
import { tooLarge, uploadFailure } from '../objects/objects.service';
import { OBJECT_STORE, STORAGE_OPTIONS, type StorageOptions } from '../storage.options';
import { openSource } from '../transfers/source';
import { ArtifactsRepository } from './artifacts.repository';

type ArtifactMessage = MessageInitShape<typeof storageV1.ArtifactSchema>;

export function renderArtifact(row: Artifact): ArtifactMessage {
  return {
    id: row.id,
    runId: row.runId,
    runtimeId: row.runtimeId,
    spaceId: row.spaceId,
    accountId: row.accountId,
    subaccountId: row.subaccountId ?? '',
    kind: row.kind,
    name: row.name,
    contentType: row.contentType,
    size: row.size,
    sha256: row.sha256,
    createdAt: row.createdAt.toISOString(),
  };
}

/** Artifacts: files a run produced, recorded with their run and space and served back to whoever can see the run. */
@Injectable()
export class ArtifactsService {
  private readonly logger = new Logger('Artifacts');

  constructor(
    private readonly artifacts: ArtifactsRepository,
    @Inject(OBJECT_STORE) private readonly store: ObjectStore,
    @Inject(STORAGE_OPTIONS) private readonly options: StorageOptions,
    @Inject(TRANSPORT) private readonly transport: Transport,
  ) {}

  async get(principal: Principal, artifactId: string) {
    return renderArtifact(await this.findVisible(requireKey(principal, 'viewer'), artifactId));
  }

  async list(principal: Principal, request: storageV1.ListArtifactsRequest) {
    const key = requireKey(principal, 'viewer');
    // A run the key cannot see is not found, like a missing one (runs-recorder applies the same scope).
    await this.transport.request(RunsV1.get, { runId: request.runId }, { principal: key });
    const { rows, limit } = await this.artifacts.listOfRun(key, request.runId, {
      limit: request.limit,
      cursor: request.cursor,
    });
    return toPageMessage(rows, limit, renderArtifact);
  }

  async presign(principal: Principal, artifactId: string) {
    const row = await this.findVisible(requireKey(principal, 'viewer'), artifactId);
    const ttlSeconds = this.options.presignTtlSeconds ?? 300;
    const url = await this.store.presignGet(row.objectKey, {
      ttlSeconds,
      fileName: row.name,
      contentType: row.contentType,
    });
    return { url: url ?? '', expiresAt: url ? new Date(Date.now() + ttlSeconds * 1000).toISOString() : '' };
  }

  async read(principal: Principal, request: ReadArtifactRequest): Promise<ByteRead> {
    const row = await this.findVisible(requireKey(principal, 'viewer'), request.artifactId);
    const meta = {
      size: Number(row.size),
      sha256: row.sha256,
      contentType: row.contentType,
      modifiedAt: row.createdAt.toISOString(),
      fileName: row.name,
    };
    if (request.head) return { meta, range: null, body: null };
    const range = resolveRange(request.range, meta.size);
    const read = await this.store.get(row.objectKey, range ? { range } : {});
    if (!read) throw BctrlError.notFound('artifact');
    return { meta, range: read.range, body: read.body };
  }

  /**
   * Platform-internal: pulls the file from `source` (a runtime agent's download or recording, say) straight into the
   * object store, records it and announces `artifact.created` on the run. The bytes stream through; neither the
   * source's headers (a bearer token) nor its URL's query are logged.
   */
  async import(principal: Principal, request: storageV1.ImportArtifactRequest) {
    requireOperator(principal);
    const details = checkImport(request);
    if (details.length > 0) throw BctrlError.validation(details, 'The artifact import is not valid.');
    if (request.artifactId) {
      // A retry (the caller timed out waiting, say) of an import that went through: nothing is fetched or told twice.
      const existing = await this.artifacts.findById(request.artifactId);
      if (existing) {
        if (existing.runId !== request.runId)
          throw new BctrlError('conflict', 'That artifact id belongs to another run.');
        return renderArtifact(existing);
      }
    }
    const source = await openSource(request.source as storageV1.ArtifactSource, 'artifact source');
    if (source.contentLength !== null && source.contentLength > this.options.maxObjectBytes) {
      source.body.destroy();
      throw tooLarge(this.options.maxObjectBytes);
    }
    return this.record(
      request,
      source.body,
      request.contentType || source.contentType || 'application/octet-stream',
      request.artifactId || undefined,
    );
  }

  /**
   * Stores a stream as an artifact of a run: the bytes into the object store, then its row, then `artifact.created`
   * on the run. The row is written only once the bytes are whole, so a failed import leaves nothing to see.
   */
  async record(
    spec: ArtifactSpecInput,
    body: Readable,
    contentType: string,
    id = newId('artifact'),
  ): Promise<ArtifactMessage> {
    const name = safeArtifactName(spec.name);
    const objectKey = artifactKey(spec.spaceId, id, name);
    const max = this.options.maxObjectBytes;
    let stored;
    try {
      stored = await this.store.put(objectKey, body, { contentType, maxBytes: max });
    } catch (error) {
      body.destroy();
      if (error instanceof ObjectTooLargeError) throw tooLarge(max);
      throw uploadFailure(error);
    }
    const { created, row } = await this.artifacts.createOnce({
      id,
      runId: spec.runId,
      runtimeId: spec.runtimeId,
      spaceId: spec.spaceId,
      accountId: spec.accountId,
      subaccountId: spec.subaccountId || null,
      kind: spec.kind,
      name,
      contentType,
      size: BigInt(stored.size),
      sha256: stored.sha256,
      objectKey,
    });
    // An import of the same id that raced this one and won: its row is the answer, and its event was told.
    if (!created) return renderArtifact(row);
    await publishRunEvent(
      this.transport,
      {
        runId: row.runId,
        runtimeId: row.runtimeId,
        spaceId: row.spaceId,
        accountId: row.accountId,
        subaccountId: row.subaccountId,
      },
      RunEvent.artifactCreated,
      {
        artifactId: row.id,
        kind: row.kind,
        name: row.name,
        contentType: row.contentType,
        size: stored.size,
        sha256: stored.sha256,
      },
    ).catch((error: unknown) => {
      // The artifact exists either way; a lost event is a gap in the record, not a reason to fail the import.
      this.logger.warn(`artifact.created for ${row.id} not published: ${String(error)}`);
    });
    return renderArtifact(row);
  }

  private async findVisible(key: KeyPrincipal, artifactId: string): Promise<Artifact> {
    const row = isId('artifact', artifactId) ? await this.artifacts.findVisible(key, artifactId) : null;
    if (!row) throw BctrlError.notFound('artifact');
    return row;
  }
}

/** Who an artifact belongs to and what it is: the fields of an import other than where its bytes come from. */
export type ArtifactSpecInput = Pick<
  storageV1.ImportArtifactRequest,
  'runId' | 'runtimeId' | 'spaceId' | 'accountId' | 'subaccountId' | 'kind' | 'name'
>;

export function checkArtifactSpec(request: ArtifactSpecInput): ErrorDetail[] {
  const details: ErrorDetail[] = [];
  if (!isId('run', request.runId)) details.push({ field: 'runId', issue: 'must be a run id' });
  if (!isId('space', request.spaceId)) details.push({ field: 'spaceId', issue: 'must be a space id' });
  if (!isId('account', request.accountId)) details.push({ field: 'accountId', issue: 'must be an account id' });
  if (request.subaccountId && !isId('subaccount', request.subaccountId)) {
    details.push({ field: 'subaccountId', issue: 'must be a subaccount id or empty' });
  }
  if (request.runtimeId && !isId('runtime', request.runtimeId)) {
    details.push({ field: 'runtimeId', issue: 'must be a runtime id or empty' });
  }
  if (!(ARTIFACT_KINDS as readonly string[]).includes(request.kind)) {
    details.push({ field: 'kind', issue: `must be one of ${ARTIFACT_KINDS.join(', ')}` });
  }
  if (!request.name.trim()) details.push({ field: 'name', issue: 'must not be empty' });
  return details;
}

function checkImport(request: storageV1.ImportArtifactRequest): ErrorDetail[] {
  const details = checkArtifactSpec(request);
  if (request.contentType.length > 255) details.push({ field: 'contentType', issue: 'must be at most 255 characters' });
  if (request.artifactId && !isId('artifact', request.artifactId)) {
    details.push({ field: 'artifactId', issue: 'must be an artifact id or empty' });
  }
  let url: URL | null = null;
  try {
    url = new URL(request.source?.url ?? '');
  } catch {
    url = null;
  }
  if (!url || !['http:', 'https:'].includes(url.protocol)) {
    details.push({ field: 'source.url', issue: 'must be an http(s) URL' });
  }
  return details;
}

/** Host and path only: a query string may carry a token. */
