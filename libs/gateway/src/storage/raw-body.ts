import type { FastifyInstance, FastifyRequest } from 'fastify';

/**
 * Routes marked `@RouteConfig(RAW_BODY)` take any media type and get the request stream unread, so a gigabyte
 * upload streams through instead of being parsed or buffered. Fastify picks a parser by Content-Type alone, and
 * the gateway's JSON parser and its 415 for everything else must stay as they are for every other route, so the
 * marked routes' requests are relabelled with a media type only they use (the original is kept for the handler).
 */
export const RAW_BODY = { rawBody: true } as const;

const RAW_MEDIA_TYPE = 'application/x-bctrl-raw-body';
const originals = new WeakMap<FastifyRequest, string | undefined>();

export function installRawBodyRoutes(fastify: FastifyInstance): void {
  fastify.addHook('onRequest', (request, _reply, done) => {
    if ((request.routeOptions.config as { rawBody?: boolean } | undefined)?.rawBody) {
      const headers = request.raw.headers;
      originals.set(request, headers['content-type']);
      headers['content-type'] = RAW_MEDIA_TYPE;
    }
    done();
  });
  // Hands the stream over untouched: no body limit applies here, the route enforces its own while streaming.
  fastify.addContentTypeParser(RAW_MEDIA_TYPE, (_request, _payload, done) => done(null, undefined));
}

/** The Content-Type the client sent to a raw-body route. */
export function rawContentType(request: FastifyRequest): string {
  return originals.get(request) ?? '';
}
