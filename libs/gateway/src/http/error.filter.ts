import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { BctrlError, ErrorCode } from '@bctrl/core';

interface Envelope {
  error: { code: ErrorCode; message: string; details: unknown[]; requestId: string };
}

/** Fastify's own errors (body parsing, limits) by their code, so they get API.md's codes instead of a 500. */
const FASTIFY_ERRORS: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'validation_failed',
  FST_ERR_CTP_INVALID_JSON_BODY: 'validation_failed',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'validation_failed',
};

const STATUS_CODES: Record<number, ErrorCode> = {
  400: 'validation_failed',
  401: 'unauthenticated',
  403: 'forbidden',
  404: 'not_found',
  405: 'not_found',
  409: 'conflict',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  429: 'rate_limited',
  503: 'unavailable',
};

export function toBctrlError(error: unknown): BctrlError {
  if (error instanceof BctrlError) return error;
  const code = (error as { code?: unknown })?.code;
  if (typeof code === 'string' && FASTIFY_ERRORS[code]) {
    const mapped = FASTIFY_ERRORS[code];
    return new BctrlError(mapped, fastifyMessage(mapped, (error as Error).message));
  }
  if (error instanceof SyntaxError) return new BctrlError('validation_failed', 'The request body is not valid JSON.');
  if (error instanceof HttpException) {
    const status = error.getStatus();
    const mapped = STATUS_CODES[status];
    if (mapped === 'not_found') return new BctrlError('not_found', 'No such route.');
    if (mapped) return new BctrlError(mapped, error.message);
  }
  return new BctrlError(
    'internal',
    'Something went wrong on our side. Quote the request id if you contact the operator.',
  );
}

function fastifyMessage(code: ErrorCode, original: string): string {
  if (code === 'payload_too_large') return 'The request body is larger than this route accepts.';
  if (code === 'unsupported_media_type') return 'Send the body as application/json.';
  return /json/i.test(original) ? 'The request body is not valid JSON.' : original;
}

/** Long enough for any sentence of ours; a caller's 15 kB URL or path quoted back is cut to this. */
export const ECHO_LIMIT = 256;

/** Errors may quote what the caller sent; the quote is cut so that an error never echoes a large input whole. */
function clip(text: string): string {
  return text.length <= ECHO_LIMIT
    ? text
    : `${text.slice(0, ECHO_LIMIT)}… (${text.length - ECHO_LIMIT} more characters)`;
}

export function envelope(error: BctrlError, requestId: string): Envelope {
  const details = error.details.map((detail) => ({
    ...(detail.field === undefined ? {} : { field: clip(detail.field) }),
    issue: clip(detail.issue),
  }));
  return { error: { code: error.code, message: clip(error.message), details, requestId } };
}

@Catch()
export class ErrorEnvelopeFilter implements ExceptionFilter {
  private readonly logger = new Logger('Gateway');

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    const error = toBctrlError(exception);
    if (error.code === 'internal') {
      this.logger.error(`unhandled error on ${request.method} ${request.url.split('?')[0]}: ${describe(exception)}`);
    }
    const requestId = request.bctrl?.requestId ?? '';
    if (error.code === 'unauthenticated') void reply.header('www-authenticate', 'Bearer');
    if (error.code === 'rate_limited' && !reply.getHeader('retry-after')) void reply.header('retry-after', '1');
    // A 416 says how large the object is (RFC 9110), which a storage read attaches to its error.
    const objectSize = (exception as { objectSize?: unknown })?.objectSize;
    if (error.code === 'range_not_satisfiable' && typeof objectSize === 'number') {
      void reply.header('content-range', `bytes */${objectSize}`);
    }
    // A body refused before it was read to its end (a 413 midway through an upload): closing stops the sender.
    if (request.raw && !request.raw.complete) void reply.header('connection', 'close');
    void reply.status(error.status).send(envelope(error, requestId));
  }
}

function describe(exception: unknown): string {
  return exception instanceof Error
    ? `${exception.name}: ${exception.message}\n${exception.stack ?? ''}`
    : String(exception);
}
