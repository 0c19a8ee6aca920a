import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import type { DynamicModule, LoggerService, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BctrlError } from '@bctrl/core';
import { envelope } from './http/error.filter';
import { jsonBodyProblem, MAX_JSON_DEPTH } from './http/json-depth';
import { installRequestContext } from './http/request-context';
import { createValidationPipe, JsonObjectBodyPipe } from './http/validation';
import { buildOpenApiDocument, serveOpenApi } from './openapi/openapi';
import { installRawBodyRoutes } from './storage/raw-body';
import { installViewPages } from './views/view-pages';

export interface GatewayAppOptions {
  maxBodyBytes: number;
  publicUrl: string;
  logger: LoggerService | false;
  /**
   * Let Nest close the app on SIGTERM/SIGINT (its own process). Local mode handles the signals itself, so
   * that Nest does not re-raise SIGINT in the middle of its orderly shutdown.
   */
  shutdownHooks?: boolean;
}

/**
 * `Content-Type: application/json` with no body is what many HTTP clients and generated SDKs send for an action that
 * takes none (stop, keepalive): it reads as no body, like a request without the header, instead of Fastify's 400.
 * A body nested deeper than MAX_JSON_DEPTH is refused before it is parsed: validation walks bodies recursively and
 * ~3,000 levels overflow its stack. So is a string holding a NUL, which no Postgres text column can store. Everything
 * else goes to Fastify's own JSON parser, prototype-poisoning checks included.
 */
function installJsonBodyParser(fastify: FastifyInstance): void {
  const parseJson = fastify.getDefaultJsonParser('error', 'error');
  fastify.removeContentTypeParser('application/json');
  fastify.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body as string;
    if (text.trim() === '') return done(null, undefined);
    const problem = jsonBodyProblem(text, MAX_JSON_DEPTH);
    if (problem === 'too_deep') {
      return done(
        BctrlError.validation(
          [{ issue: `must not nest objects and arrays more than ${MAX_JSON_DEPTH} levels deep` }],
          'The request body is nested too deeply.',
        ),
        undefined,
      );
    }
    if (problem === 'nul') {
      return done(
        BctrlError.validation(
          [{ issue: 'strings must not contain NUL (\\u0000) characters' }],
          'The request is not valid.',
        ),
        undefined,
      );
    }
    void parseJson(request, text, done);
  });
}

/**
 * Answers a request the HTTP parser could not read. There is no request to hang a reply on, so the answer is written
 * to the socket as it stands, then the socket closes: after a malformed request nothing more on it can be trusted.
 */
function answerUnreadableRequest(error: NodeJS.ErrnoException, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, text, failure] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [
          431,
          'Request Header Fields Too Large',
          new BctrlError('payload_too_large', 'The request headers are too large.'),
        ]
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request Timeout', new BctrlError('validation_failed', 'The request did not arrive in time.')]
        : [
            400,
            'Bad Request',
            new BctrlError(
              'validation_failed',
              'The request could not be read: its request line or headers are malformed.',
            ),
          ];
  const requestId = randomBytes(16).toString('hex');
  const body = JSON.stringify(envelope(failure, requestId));
  if (!socket.writable) return void socket.destroy();
  // end() flushes the answer before closing; nothing more is read from a socket that sent a malformed request.
  socket.end(
    `HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nx-request-id: ${requestId}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/**
 * Builds the Fastify-backed Nest app that serves the public API, from a root module that imports
 * PlatformModule and GatewayModule (the gateway app alone, or local mode with every service).
 */
export async function createGatewayApp(
  rootModule: Type<unknown> | DynamicModule,
  options: GatewayAppOptions,
): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({
    bodyLimit: options.maxBodyBytes,
    // Behind an ingress the client address comes from X-Forwarded-For.
    trustProxy: true,
    return503OnClosing: true,
    routerOptions: { ignoreTrailingSlash: true },
    // A URL that cannot be decoded (`%zz` in a storage path, say) fails in the router, before any hook: answer it
    // in the error envelope like every other bad request.
    // A request Node's parser refuses before Fastify sees it (a control character in a header, headers too large,
    // too slow) is answered in the envelope too, not in Fastify's own shape.
    clientErrorHandler: answerUnreadableRequest,
    frameworkErrors: (error: FastifyError, _request: FastifyRequest, reply: FastifyReply) => {
      const failure = new BctrlError('validation_failed', 'The URL is not valid.', [
        { field: 'url', issue: error.code === 'FST_ERR_BAD_URL' ? 'has an invalid percent-encoding' : error.message },
      ]);
      const requestId = randomBytes(16).toString('hex');
      void reply.status(failure.status).header('x-request-id', requestId).send(envelope(failure, requestId));
    },
  });
  installRequestContext(adapter.getInstance());
  // JSON in and out (API.md): Fastify's default text/plain parser would let a form-encoded body through to
  // validation; without it such a request is a 415. Raw-body routes (storage) register their own parsers.
  adapter.getInstance().removeContentTypeParser('text/plain');
  installJsonBodyParser(adapter.getInstance());
  installRawBodyRoutes(adapter.getInstance());
  const app = await NestFactory.create<NestFastifyApplication>(rootModule, adapter, {
    logger: options.logger,
    bufferLogs: false,
    // Nest would add a form-urlencoded parser; the API takes JSON only, so Fastify's own JSON parser is all
    // there is and any other media type is a 415.
    bodyParser: false,
  });
  app.useGlobalPipes(new JsonObjectBodyPipe(), createValidationPipe());
  if (options.shutdownHooks !== false) app.enableShutdownHooks();
  serveOpenApi(adapter.getInstance(), buildOpenApiDocument(app, options.publicUrl));
  installViewPages(app);
  return app;
}
