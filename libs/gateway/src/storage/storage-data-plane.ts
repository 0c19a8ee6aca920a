import { Agent, type IncomingMessage, request as httpRequest } from 'node:http';
import type { Readable } from 'node:stream';
import type { INestApplicationContext } from '@nestjs/common';
import { context, propagation } from '@opentelemetry/api';
import { type ByteRead, type ObjectMeta, type SpaceObjectView, STORAGE_DATA_PLANE } from '@bctrl/contracts';
import { BctrlError, ERROR_STATUS, type ErrorCode, type ErrorDetail, type Principal } from '@bctrl/core';
import { encodePrincipal, PRINCIPAL_HEADER } from '@bctrl/transport';

/*
 * Object bytes cannot travel over NATS, so the gateway streams them through this port, like /v1/cdp/* through
 * CdpRouteHandler: local mode plugs the storage service in directly (same process, no hop); distributed mode gets
 * HttpStorageDataPlane, which streams to the storage app's data-plane server with the principal the gateway already
 * authenticated. Either way the body is a stream end to end, never buffered whole.
 */

export type { ByteRead, ObjectMeta, SpaceObjectView };

export const STORAGE_DATA_PLANE_PORT = Symbol.for('bctrl.gateway.storage-data-plane');

export interface StorageDataPlane {
  putObject(
    principal: Principal,
    request: { spaceId: string; path: string; contentType: string; contentLength: number | null; body: Readable },
  ): Promise<SpaceObjectView>;
  readObject(
    principal: Principal,
    request: { spaceId: string; path: string; range?: string; head?: boolean },
  ): Promise<ByteRead>;
  readArtifact(
    principal: Principal,
    request: { artifactId: string; range?: string; head?: boolean },
  ): Promise<ByteRead>;
}

/** What the gateway answers with when it was started without a storage service to stream to. */
export class UnavailableStorageDataPlane implements StorageDataPlane {
  private fail(): Promise<never> {
    return Promise.reject(new BctrlError('unavailable', 'Storage is not available on this installation.'));
  }
  putObject = () => this.fail();
  readObject = () => this.fail();
  readArtifact = () => this.fail();
}

/**
 * The gateway's data-plane port: unavailable until an implementation is plugged in with useStorageDataPlane, since
 * local mode's (the storage service itself) exists only once the app's modules are built.
 */
export class StorageDataPlanePort implements StorageDataPlane {
  target: StorageDataPlane = new UnavailableStorageDataPlane();
  putObject: StorageDataPlane['putObject'] = (principal, request) => this.target.putObject(principal, request);
  readObject: StorageDataPlane['readObject'] = (principal, request) => this.target.readObject(principal, request);
  readArtifact: StorageDataPlane['readArtifact'] = (principal, request) => this.target.readArtifact(principal, request);
}

/** Plugs the storage data plane into a built gateway app: the service itself in local mode, HTTP in distributed. */
export function useStorageDataPlane(app: INestApplicationContext, plane: StorageDataPlane): void {
  app.get<StorageDataPlanePort>(STORAGE_DATA_PLANE_PORT).target = plane;
}

/** How long the storage service may stay silent (no byte either way) before the call is given up. */
const IDLE_TIMEOUT_MS = 60_000;

/** Distributed mode: the storage app's data-plane server at BCTRL_STORAGE_URL (STORAGE_DATA_PLANE in contracts). */
export class HttpStorageDataPlane implements StorageDataPlane {
  private readonly host: string;
  private readonly port: number;
  private readonly agent = new Agent({ keepAlive: true, maxFreeSockets: 16 });

  constructor(target: string) {
    const url = new URL(target);
    this.host = url.hostname;
    this.port = Number(url.port || 80);
  }

  putObject(
    principal: Principal,
    request: { spaceId: string; path: string; contentType: string; contentLength: number | null; body: Readable },
  ): Promise<SpaceObjectView> {
    const query = new URLSearchParams({ spaceId: request.spaceId, path: request.path });
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (fn: () => void) => {
        if (settled) return;
        settled = true;
        // The answer may come before the whole body (a 413 midway): stop reading the tenant's body at once.
        request.body.unpipe(outgoing);
        fn();
      };
      const outgoing = httpRequest({
        host: this.host,
        port: this.port,
        // A fresh connection: a kept-alive one the storage side is just closing would fail the upload, and a
        // streamed body cannot be sent again. Reads reuse connections and retry that case instead.
        agent: false,
        method: 'PUT',
        path: `${STORAGE_DATA_PLANE.objectsPath}?${query}`,
        timeout: IDLE_TIMEOUT_MS,
        headers: {
          ...this.headers(principal),
          'content-type': request.contentType || 'application/octet-stream',
          ...(request.contentLength !== null ? { 'content-length': String(request.contentLength) } : {}),
        },
      });
      outgoing.on('response', (answer) => {
        readJson(answer).then(
          (body) =>
            settle(() =>
              answer.statusCode === 200 ? resolve(body as SpaceObjectView) : reject(toError(answer, body)),
            ),
          () => settle(() => reject(unreachable())),
        );
      });
      outgoing.on('timeout', () => outgoing.destroy(new Error('storage timed out')));
      outgoing.on('error', () => settle(() => reject(unreachable())));
      request.body.on('error', () => outgoing.destroy());
      // Headers go at once, not with the first body chunk: a declared length over the limit is refused before any.
      outgoing.flushHeaders();
      request.body.pipe(outgoing);
    });
  }

  readObject(principal: Principal, request: { spaceId: string; path: string; range?: string; head?: boolean }) {
    const query = new URLSearchParams({ spaceId: request.spaceId, path: request.path });
    return this.read(principal, `${STORAGE_DATA_PLANE.objectsPath}?${query}`, request.range, request.head);
  }

  readArtifact(principal: Principal, request: { artifactId: string; range?: string; head?: boolean }) {
    const query = new URLSearchParams({ artifactId: request.artifactId });
    return this.read(principal, `${STORAGE_DATA_PLANE.artifactContentPath}?${query}`, request.range, request.head);
  }

  private read(principal: Principal, path: string, range?: string, head?: boolean, retried = false): Promise<ByteRead> {
    return new Promise((resolve, reject) => {
      const outgoing = httpRequest({
        host: this.host,
        port: this.port,
        agent: this.agent,
        method: head ? 'HEAD' : 'GET',
        path,
        timeout: IDLE_TIMEOUT_MS,
        headers: { ...this.headers(principal), ...(range ? { range } : {}) },
      });
      let answered = false;
      outgoing.on('response', (answer) => {
        answered = true;
        const status = answer.statusCode ?? 502;
        if (status !== 200 && status !== 206) {
          // A HEAD answer has no body to carry the envelope: its status says enough.
          if (head) {
            answer.resume();
            return reject(statusError(status));
          }
          readJson(answer).then(
            (body) => reject(toError(answer, body)),
            () => reject(unreachable()),
          );
          return;
        }
        const header = answer.headers[STORAGE_DATA_PLANE.metadataHeader];
        const meta = JSON.parse(Buffer.from(String(header ?? ''), 'base64').toString('utf8')) as ObjectMeta;
        const match = /^bytes (\d+)-(\d+)\//.exec(String(answer.headers['content-range'] ?? ''));
        resolve({
          meta,
          range: status === 206 && match ? { start: Number(match[1]), end: Number(match[2]) } : null,
          body: head ? (answer.resume(), null) : answer,
        });
      });
      outgoing.on('timeout', () => outgoing.destroy(new Error('storage timed out')));
      outgoing.on('error', (error: NodeJS.ErrnoException) => {
        // The storage side closed an idle kept-alive connection as this request went out on it: nothing was read,
        // so the read is sent once more on a new connection (Node's documented pattern for reusedSocket).
        if (!answered && outgoing.reusedSocket && error.code === 'ECONNRESET' && !retried) {
          resolve(this.read(principal, path, range, head, true));
        } else reject(unreachable());
      });
      outgoing.end();
    });
  }

  private headers(principal: Principal): Record<string, string> {
    const headers: Record<string, string> = { [PRINCIPAL_HEADER]: encodePrincipal(principal) };
    // The storage service's spans join the request's trace, as they would over NATS.
    propagation.inject(context.active(), headers);
    return headers;
  }

  close(): void {
    this.agent.destroy();
  }
}

function statusError(status: number): BctrlError {
  const code = (Object.keys(ERROR_STATUS) as ErrorCode[]).find((name) => ERROR_STATUS[name] === status);
  return code ? new BctrlError(code, 'The object could not be read.') : unreachable();
}

function unreachable(): BctrlError {
  return new BctrlError('unavailable', 'The storage service is not reachable.');
}

/** Error answers are small JSON envelopes; anything larger or unreadable is treated as the service being broken. */
async function readJson(answer: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of answer) {
    size += (chunk as Buffer).length;
    if (size > 64 * 1024) throw new Error('answer too large');
    chunks.push(chunk as Buffer);
  }
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

function toError(answer: IncomingMessage, body: unknown): BctrlError {
  const error = (body as { error?: { code?: string; message?: string; details?: ErrorDetail[] } })?.error;
  const code = error?.code && BctrlError.isCode(error.code) ? error.code : 'internal';
  const failure = new BctrlError(code, error?.message ?? 'The storage service failed.', error?.details ?? []);
  const size = /^bytes \*\/(\d+)$/.exec(String(answer.headers['content-range'] ?? ''))?.[1];
  return size !== undefined ? Object.assign(failure, { objectSize: Number(size) }) : failure;
}
