import type { DynamicModule, LoggerService, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { randomBytes } from 'node:crypto';
import { BctrlError } from '@bctrl/core';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { envelope } from './http/error.filter';
import { jsonDepthExceeds, MAX_JSON_DEPTH } from './http/json-depth';
import { createValidationPipe, JsonObjectBodyPipe } from './http/validation';
import { installRequestContext } from './http/request-context';
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
 * ~3,000 levels overflow its stack. Everything else goes to Fastify's own JSON parser, prototype-poisoning checks
 * included.
 */
function installJsonBodyParser(fastify: FastifyInstance): void {
  const parseJson = fastify.getDefaultJsonParser('error', 'error');
  fastify.removeContentTypeParser('application/json');
  fastify.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body as string;
    if (text.trim() === '') return done(null, undefined);
    if (jsonDepthExceeds(text, MAX_JSON_DEPTH)) {
      return done(
        BctrlError.validation(
          [{ issue: `must not nest objects and arrays more than ${MAX_JSON_DEPTH} levels deep` }],
          'The request body is nested too deeply.',
        ),
        undefined,
      );
    }
    void parseJson(request, text, done);
  });
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
