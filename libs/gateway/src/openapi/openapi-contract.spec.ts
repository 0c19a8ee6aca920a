import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Module } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { OperationObject } from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import { PlatformModule } from '@bctrl/service';
import { InProcessTransport } from '@bctrl/transport';
import { createGatewayApp } from '../gateway.app';
import { GatewayModule } from '../gateway.module';
import { InMemoryIdempotencyStore } from '../idempotency/idempotency.store';
import { UnlimitedRateLimiter } from '../rate-limit/rate-limiter';
import { buildOpenApiDocument } from './openapi';

/**
 * The contract tenants code against is shared/API.md, beside the repo; the repo keeps a copy so that no test reads
 * outside it, and .ci/run checks that the copy is the current one.
 */
const API_MD = resolve(__dirname, '../../../../docs/contract/API.md');

type Route = `${string} ${string}`;

/** Every `| METHOD | /v1/path | notes |` row of API.md's tables, one entry per method. */
function contractRoutes(markdown: string): Route[] {
  const routes: Route[] = [];
  for (const line of markdown.split('\n')) {
    const cells = line.split('|').map((cell) => cell.trim());
    const [, methods, path] = cells;
    if (!methods || !path || !/^(GET|POST|PUT|PATCH|DELETE|HEAD)( \/ (GET|POST|PUT|PATCH|DELETE|HEAD))*$/.test(methods))
      continue;
    for (const method of methods.split(' / ')) routes.push(`${method} ${path}`);
  }
  return routes;
}

/** The API.md routes this build implements; later issues add theirs here. */
const BUILT_PATHS = [
  /^\/v1\/spaces(\/\{spaceId\})?$/,
  /^\/v1\/spaces\/\{spaceId\}\/runtimes$/,
  /^\/v1\/runtimes\/\{runtimeId\}(\/keepalive|\/stop)?$/,
  /^\/v1\/subaccounts(\/\{subaccountId\})?$/,
  /^\/v1\/api-keys(\/\{keyId\})?$/,
  /^\/v1\/runtimes\/\{runtimeId\}\/connections$/,
  /^\/v1\/connections\/\{connectionId\}$/,
  /^\/v1\/spaces\/\{spaceId\}\/storage(\/\{path\})?$/,
  /^\/v1\/artifacts\/\{artifactId\}(\/content)?$/,
  /^\/v1\/runs\/\{runId\}\/artifacts$/,
  /^\/v1\/spaces\/\{spaceId\}\/runs$/,
  /^\/v1\/runs\/\{runId\}(\/events|\/commands|\/live-view|\/recording-view)?$/,
  /^\/v1\/runtimes\/\{runtimeId\}\/files(\/stage|\/collect)?$/,
  /^\/v1\/spaces\/\{spaceId\}\/secrets$/,
  /^\/v1\/secrets\/\{secretId\}(\/value)?$/,
  /^\/v1\/spaces\/\{spaceId\}\/proxies$/,
  /^\/v1\/proxies\/\{proxyId\}$/,
  /^\/v1\/spaces\/\{spaceId\}\/ai-connections$/,
  /^\/v1\/ai-connections\/\{aiConnectionId\}(\/test)?$/,
];
const OPERATIONS: Route[] = ['GET /healthz', 'GET /readyz', 'GET /docs', 'GET /openapi.json'];

describe('OpenAPI document against API.md', () => {
  let app: NestFastifyApplication;
  let documented: Route[];
  let contract: Route[];

  beforeAll(async () => {
    const transport = new InProcessTransport();
    @Module({
      imports: [
        PlatformModule.forRoot({ services: ['gateway'], transport }),
        GatewayModule.forRoot({
          idempotencyStore: new InMemoryIdempotencyStore(),
          rateLimiter: new UnlimitedRateLimiter(),
          publicUrl: { value: 'http://localhost:8080' },
        }),
      ],
    })
    class ContractModule {}
    app = await createGatewayApp(ContractModule, {
      maxBodyBytes: 1024,
      publicUrl: 'http://localhost:8080',
      logger: false,
    });
    const document = buildOpenApiDocument(app, 'http://localhost:8080');
    documented = Object.entries(document.paths).flatMap(([path, item]) =>
      Object.keys(item as object).map((method) => `${method.toUpperCase()} ${path}` as Route),
    );
    contract = contractRoutes(readFileSync(API_MD, 'utf8'));
  });

  afterAll(async () => {
    await app.close();
  });

  it('reads the route tables of API.md', () => {
    expect(contract).toEqual(
      expect.arrayContaining(['POST /v1/spaces', 'GET /v1/subaccounts', 'DELETE /v1/api-keys/{keyId}']),
    );
  });

  it('documents every API.md route of the families built so far, and the operations routes', () => {
    const expected = contract.filter((route) => BUILT_PATHS.some((path) => path.test(route.split(' ')[1] ?? '')));
    const missing = [...expected, ...OPERATIONS].filter((route) => !documented.includes(route));
    expect(missing).toEqual([]);
  });

  it('documents no route that API.md does not have', () => {
    const extra = documented.filter((route) => !contract.includes(route) && !OPERATIONS.includes(route));
    expect(extra).toEqual([]);
  });

  it('documents 429 with its rate-limit headers on every authenticated operation, and 415 where a JSON body is read', () => {
    const document = buildOpenApiDocument(app, 'http://localhost:8080');
    const missing: string[] = [];
    for (const [path, item] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(item as Record<string, OperationObject>)) {
        const responses = operation.responses as Record<string, { headers?: Record<string, unknown> }>;
        if (operation.security?.length) {
          const headers = Object.keys(responses['429']?.headers ?? {});
          for (const header of ['Retry-After', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset']) {
            if (!headers.includes(header)) missing.push(`${method} ${path}: 429 ${header}`);
          }
        }
        const jsonBody =
          !operation.requestBody || 'application/json' in (operation.requestBody as { content: object }).content;
        if (['post', 'patch', 'delete'].includes(method) && jsonBody && !responses['415']) {
          missing.push(`${method} ${path}: 415`);
        }
      }
    }
    expect(missing).toEqual([]);
    // A raw-body route takes any media type, so it never answers 415.
    expect(document.paths['/v1/spaces/{spaceId}/storage/{path}']?.put?.responses?.['415']).toBeUndefined();
    expect(document.paths['/v1/spaces']?.post?.responses?.['415']).toBeDefined();
    expect(document.paths['/healthz']?.get?.responses?.['429']).toBeUndefined();
  });

  it('closes every JSON request body schema (unknown fields are refused) and leaves maps open', () => {
    const document = buildOpenApiDocument(app, 'http://localhost:8080');
    const schemas = document.components?.schemas as Record<string, Record<string, unknown>>;
    expect(schemas['CreateSpaceDto']?.['additionalProperties']).toBe(false);
    expect(schemas['CreateRuntimeDto']?.['additionalProperties']).toBe(false);
    expect(schemas['ViewportDto']?.['additionalProperties']).toBe(false);
    const metadata = (schemas['CreateSpaceDto']?.['properties'] as Record<string, Record<string, unknown>>)['metadata'];
    expect(metadata?.['additionalProperties']).toEqual({ type: 'string', maxLength: 500 });
    // Answers are not request bodies: a client must ignore fields it does not know, so those stay open.
    expect(schemas['SpaceDto']?.['additionalProperties']).toBeUndefined();
  });

  it('states who may create view links: a shareable link takes a member or admin key', () => {
    const document = buildOpenApiDocument(app, 'http://localhost:8080');
    for (const path of ['/v1/runs/{runId}/live-view', '/v1/runs/{runId}/recording-view']) {
      const created = document.paths[path]?.post?.responses?.['201'] as { description?: string } | undefined;
      expect(created?.description).toMatch(/member or admin key \(a viewer key gets 403\)/);
    }
  });

  it('documents the error envelope, bearer auth and Idempotency-Key on creating POSTs', () => {
    const document = buildOpenApiDocument(app, 'http://localhost:8080');
    const post = document.paths['/v1/spaces']?.post;
    expect(post?.responses?.['201']).toBeDefined();
    expect(post?.responses?.['400']).toBeDefined();
    expect(JSON.stringify(post?.parameters)).toContain('Idempotency-Key');
    expect(post?.security).toEqual([{ bearer: [] }]);
    expect(document.components?.schemas?.['ErrorEnvelopeDto']).toBeDefined();
  });
});
