import type { FastifyReply } from 'fastify';
import { attachment } from './content-disposition';
import type { ByteRead } from './storage-data-plane';

/** Writes a read's headers and streams its body (Fastify pipes it with backpressure: nothing is buffered whole). */
export function sendBytes(reply: FastifyReply, read: ByteRead): FastifyReply {
  const { meta, range } = read;
  void reply
    .status(range ? 206 : 200)
    .header('content-type', meta.contentType || 'application/octet-stream')
    .header('content-length', String(range ? range.end - range.start + 1 : meta.size))
    .header('accept-ranges', 'bytes')
    .header('etag', `"${meta.sha256}"`)
    .header('last-modified', new Date(meta.modifiedAt).toUTCString())
    .header('cache-control', 'private, no-cache');
  if (range) void reply.header('content-range', `bytes ${range.start}-${range.end}/${meta.size}`);
  if (meta.fileName) void reply.header('content-disposition', attachment(meta.fileName));
  return reply.send(read.body ?? undefined);
}
