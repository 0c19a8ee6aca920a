import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { FastifyInstance } from 'fastify';

/** Built from the controllers' own decorators, so the document cannot drift from the routes. */
export function buildOpenApiDocument(app: INestApplication, publicUrl: string): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('BCTRL API')
    .setDescription(
      'Self-hostable browser control: spaces, runtimes, connections, runs. Errors use one envelope ' +
        '`{"error": {code, message, details, requestId}}`; lists take `limit` (1–100, default 20) and `cursor` and ' +
        'answer `{data, nextCursor}` newest first; POSTs that create accept `Idempotency-Key`; every response has ' +
        '`x-request-id`, which is also the trace id.',
    )
    .setVersion('1')
    .addServer(publicUrl)
    .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'An API key: `Authorization: Bearer <key>`.' })
    .build();
  const document = SwaggerModule.createDocument(app, config, {
    operationIdFactory: (controllerKey, methodKey) => `${controllerKey.replace(/Controller$/, '')}_${methodKey}`,
  });
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
