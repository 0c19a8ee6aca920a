import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { context, propagation } from '@opentelemetry/api';
import { STORAGE_DATA_PLANE } from '@bctrl/contracts';
import { BctrlError } from '@bctrl/core';
import { decodePrincipal, PRINCIPAL_HEADER } from '@bctrl/transport';
import type { ByteRead, StorageDataPlane } from './data-plane';

/**
 * Distributed mode: the storage data plane over HTTP (STORAGE_DATA_PLANE in @bctrl/contracts), served on
 * BCTRL_STORAGE_PORT for the gateway. Like NATS, it trusts the principal the gateway sends: the port must be reachable
 * from the gateway only (the chart's NetworkPolicy), never from tenants.
 */
export class StorageDataPlaneServer {
  constructor(private readonly plane: StorageDataPlane) {}

  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    const parent = propagation.extract(context.active(), req.headers);
    context.with(parent, () => {
      this.route(req, res).catch((error: unknown) => this.fail(req, res, error));
    });
  };

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://storage');
    const header = req.headers[PRINCIPAL_HEADER];
    const principal = decodePrincipal(Array.isArray(header) ? header[0] : header);
    const range = typeof req.headers.range === 'string' ? req.headers.range : undefined;
    const head = req.method === 'HEAD';
    if (url.pathname === STORAGE_DATA_PLANE.objectsPath) {
      const spaceId = url.searchParams.get('spaceId') ?? '';
      const path = url.searchParams.get('path') ?? '';
      if (req.method === 'PUT') {
        const length = req.headers['content-length'];
        const stored = await this.plane.putObject(principal, {
          spaceId,
          path,
          contentType: req.headers['content-type'] ?? '',
          contentLength: length !== undefined && /^\d+$/.test(length) ? Number(length) : null,
          body: req,
        });
        const body = JSON.stringify(stored);
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
        return;
      }
      if (req.method === 'GET' || head) {
        return this.send(res, await this.plane.readObject(principal, { spaceId, path, range, head }));
      }
    }
    if (url.pathname === STORAGE_DATA_PLANE.artifactContentPath && (req.method === 'GET' || head)) {
      const artifactId = url.searchParams.get('artifactId') ?? '';
      return this.send(res, await this.plane.readArtifact(principal, { artifactId, range, head }));
    }
    throw new BctrlError('not_found', 'No such data-plane route.');
  }

  private async send(res: ServerResponse, read: ByteRead): Promise<void> {
    const length = read.range ? read.range.end - read.range.start + 1 : read.meta.size;
    res.writeHead(read.range ? 206 : 200, {
      'content-type': read.meta.contentType,
      'content-length': length,
      [STORAGE_DATA_PLANE.metadataHeader]: Buffer.from(JSON.stringify(read.meta)).toString('base64'),
      ...(read.range ? { 'content-range': `bytes ${read.range.start}-${read.range.end}/${read.meta.size}` } : {}),
    });
    if (!read.body) return void res.end();
    await pipeline(read.body, res).catch(() => {
      // The gateway went away mid-body (its client did): nothing to answer, the sockets are closed.
      read.body?.destroy();
    });
  }

  private fail(req: IncomingMessage, res: ServerResponse, error: unknown): void {
    if (res.headersSent) return void res.destroy();
    const failure =
      error instanceof BctrlError
        ? error
        : new BctrlError('internal', 'The storage service failed to handle the request.');
    if (!(error instanceof BctrlError)) {
      process.stderr.write(
        `${JSON.stringify({ level: 'error', time: new Date().toISOString(), msg: 'storage data plane failed', error: error instanceof Error ? error.stack : String(error) })}\n`,
      );
    }
    const body = JSON.stringify({
      error: { code: failure.code, message: failure.message, details: failure.details },
    });
    const size = (failure as { objectSize?: unknown }).objectSize;
    res.writeHead(failure.status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      ...(typeof size === 'number' ? { 'content-range': `bytes */${size}` } : {}),
      // An upload refused midway is not read to its end: closing is how to stop the sender.
      ...(req.complete ? {} : { connection: 'close' }),
    });
    res.end(body);
  }
}
