import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import type { OperationObject } from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import type { FastifyInstance } from 'fastify';

/** Built from the controllers' own decorators, so the document cannot drift from the routes. */
export function buildOpenApiDocument(app: INestApplication, publicUrl: string): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('BCTRL API')
    .setDescription(
      'Self-hostable browser control: spaces, runtimes, connections, runs. Errors use one envelope ' +
        '`{"error": {code, message, details, requestId}}`; lists take `limit` (1–100, default 20) and `cursor` and ' +
        'answer `{data, nextCursor}` newest first; POSTs that create accept `Idempotency-Key`; every response has ' +
        '`x-request-id`, which is also the trace id. With a rate limit set, every authenticated response carries ' +
        '`x-ratelimit-limit`, `x-ratelimit-remaining` and `x-ratelimit-reset` (seconds until the window resets), and ' +
        'a request over the limit is a 429 `rate_limited` with `Retry-After`.',
    )
    .setVersion('1')
    .addServer(publicUrl)
    .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'An API key: `Authorization: Bearer <key>`.' })
    .build();
  const document = SwaggerModule.createDocument(app, config, {
    operationIdFactory: (controllerKey, methodKey) => `${controllerKey.replace(/Controller$/, '')}_${methodKey}`,
  });
  documentGatewayRefusals(document);
  closeRequestSchemas(document);
  const text = { 'text/html': { schema: { type: 'string' } } };
  document.paths['/openapi.json'] = {
    get: {
      operationId: 'Operations_openapi',
      tags: ['Operations'],
      summary: 'This document.',
      responses: { 200: { description: 'OpenAPI 3 document.' } },
    },
  };
  document.paths['/docs'] = {
    get: {
      operationId: 'Operations_docs',
      tags: ['Operations'],
      summary: 'Interactive API reference.',
      responses: { 200: { description: 'HTML page.', content: text } },
    },
  };
  return document;
}

const ERROR_ENVELOPE = { $ref: '#/components/schemas/ErrorEnvelopeDto' };
const SECONDS = { schema: { type: 'integer', minimum: 0 } };
const BODY_METHODS = new Set(['post', 'put', 'patch', 'delete']);

/**
 * Two refusals the gateway makes before any controller runs, so no route's decorators can state them: 429 for a key
 * over its rate limit (every authenticated route), and 415 for a body that is not JSON (every route that reads a
 * JSON body; raw-body routes such as storage PUT take any media type and never answer it).
 */
function documentGatewayRefusals(document: OpenAPIObject): void {
  for (const item of Object.values(document.paths)) {
    for (const [method, operation] of Object.entries(item) as Array<[string, OperationObject]>) {
      if (!operation?.responses) continue;
      if (operation.security?.length) {
        operation.responses['429'] = {
          description: 'Over the rate limit of this key (error code `rate_limited`).',
          headers: {
            'Retry-After': { description: 'Seconds to wait before the key may call again.', ...SECONDS },
            'x-ratelimit-limit': { description: 'Requests per second this key may make.', ...SECONDS },
            'x-ratelimit-remaining': { description: 'Requests left in the current window (0).', ...SECONDS },
            'x-ratelimit-reset': { description: 'Seconds until the current window resets.', ...SECONDS },
          },
          content: { 'application/json': { schema: ERROR_ENVELOPE } },
        };
      }
      const body = operation.requestBody as { content?: Record<string, unknown> } | undefined;
      const takesJson = !body?.content || 'application/json' in body.content;
      if (BODY_METHODS.has(method) && takesJson) {
        operation.responses['415'] = {
          description: 'The body is not `application/json` (error code `unsupported_media_type`).',
          content: { 'application/json': { schema: ERROR_ENVELOPE } },
        };
      }
    }
  }
}

/**
 * Request bodies are whitelists (an unknown field is a 400 naming it), so their schemas say so: every schema a JSON
 * request body refers to, and the ones nested in it, get `additionalProperties: false` unless they are maps.
 */
function closeRequestSchemas(document: OpenAPIObject): void {
  const schemas = (document.components?.schemas ?? {}) as Record<string, Record<string, unknown>>;
  const closed = new Set<string>();
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (typeof node !== 'object' || node === null) return;
    const ref = (node as { $ref?: unknown }).$ref;
    if (typeof ref === 'string') {
      const name = ref.replace('#/components/schemas/', '');
      const schema = schemas[name];
      if (!schema || closed.has(name)) return;
      closed.add(name);
      if (schema['additionalProperties'] === undefined) schema['additionalProperties'] = false;
      return visit(schema['properties']);
    }
    for (const value of Object.values(node)) visit(value);
  };
  for (const item of Object.values(document.paths)) {
    for (const operation of Object.values(item) as OperationObject[]) {
      const body = operation?.requestBody as { content?: Record<string, { schema?: unknown }> } | undefined;
      visit(body?.content?.['application/json']?.schema);
    }
  }
}

// Node's resolver at run time: a bundler would replace require.resolve with a module id.
const SWAGGER_UI_DIR = dirname(createRequire(__filename).resolve('swagger-ui-dist/package.json'));
const DOCS_ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'application/javascript; charset=utf-8',
};

const DOCS_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>BCTRL API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css"></head>
<body><div id="ui"></div><script src="/docs/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#ui' });</script></body></html>`;

/** /openapi.json and /docs, served from the package's own swagger-ui files: nothing is fetched from elsewhere. */
export function serveOpenApi(fastify: FastifyInstance, document: OpenAPIObject): void {
  const json = JSON.stringify(document);
  fastify.get('/openapi.json', async (_request, reply) => reply.type('application/json; charset=utf-8').send(json));
  fastify.get('/docs', async (_request, reply) => reply.type('text/html; charset=utf-8').send(DOCS_PAGE));
  for (const [file, type] of Object.entries(DOCS_ASSETS)) {
    const body = readFileSync(join(SWAGGER_UI_DIR, file));
    fastify.get(`/docs/${file}`, async (_request, reply) =>
      reply.type(type).header('cache-control', 'public, max-age=3600').send(body),
    );
  }
}
