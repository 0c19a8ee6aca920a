import { Module } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { PlatformModule } from '@bctrl/service';
import { InProcessTransport } from '@bctrl/transport';
import { createGatewayApp } from '../gateway.app';
import { GatewayModule } from '../gateway.module';
import { InMemoryIdempotencyStore } from '../idempotency/idempotency.store';
import { UnlimitedRateLimiter } from '../rate-limit/rate-limiter';
import { buildOpenApiDocument } from './openapi';

/** The contract tenants code against lives in shared/API.md, beside the repo (as CI lays it out). */
const API_MD = resolve(__dirname, '../../../../../shared/API.md');

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
