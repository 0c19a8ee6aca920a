import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { INestApplication, LoggerService } from '@nestjs/common';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { type ConfigOf, describeConfig, loadConfig, serviceProcessSettings, type SettingsTable } from '@bctrl/config';
import { migrateService } from '@bctrl/db';
import { JsonLogger } from '@bctrl/telemetry';
import { NatsTransport } from '@bctrl/transport';
import { PlatformModule } from './platform.module';
import type { ServiceDefinition } from './service-definition';

/** What a service process reads: every service process's settings and the service's own. */
export type ServiceProcessConfig<S extends SettingsTable> = ConfigOf<typeof serviceProcessSettings & S>;

export interface RunServiceOptions {
  env?: NodeJS.ProcessEnv;
}

export interface RunningService<S extends SettingsTable> {
  app: INestApplication;
  config: ServiceProcessConfig<S>;
  /** Where its /healthz and /readyz answer. */
  healthUrl: string;
  /** The port of its extra HTTP server, when its definition has one. */
  httpPort: number | null;
  close(): Promise<void>;
}

/**
 * Boots one service as its own process (distributed mode) from its definition: its own settings from the
 * environment, checked at once with every bad variable listed; its migrations when it owns tables (under an advisory
 * lock, so replicas starting together are safe); NATS; its modules; /healthz and /readyz on BCTRL_HEALTH_PORT; and
 * its extra HTTP server, if it has one.
 */
export async function runService<S extends SettingsTable, A>(
  definition: ServiceDefinition<S, A>,
  options: RunServiceOptions = {},
): Promise<RunningService<S>> {
  const service = definition.name;
  // Only this service's settings: a gateway needs no database URL, and must not refuse to boot without one.
  const settings = { ...serviceProcessSettings, ...definition.settings };
  const config = loadConfig(settings, {
    ...(options.env ?? process.env),
    BCTRL_MODE: 'distributed',
  }) as ServiceProcessConfig<S>;
  // What this function itself reads, typed without the service's part (which TypeScript cannot see into here).
  const common = config as unknown as ConfigOf<typeof serviceProcessSettings> & { databaseUrl?: string };
  const logger = new JsonLogger({ service, level: common.logLevel });
  logger.log(`starting with ${JSON.stringify(describeConfig(config, settings))}`, service);
  if (definition.ownsTables) {
    if (!common.databaseUrl) throw new Error(`${service} owns tables but its settings have no DATABASE_URL`);
    await migrateService(common.databaseUrl, service, { workspaceRoot: common.workspaceRoot });
  }
  const transport = await NatsTransport.connect({ servers: common.natsUrl as string, name: service });
  const adapters = definition.adapters.distributed(config);

  @Module({
    imports: [PlatformModule.forRoot({ services: [service], transport }), ...definition.modules(config, adapters)],
  })
  class ServiceRootModule {}

  const app = await NestFactory.create<NestFastifyApplication>(ServiceRootModule, new FastifyAdapter(), {
    logger: logger as LoggerService,
  });
  app.enableShutdownHooks();
  await app.listen(common.healthPort, common.host);
  const healthUrl = await app.getUrl();
  const server = definition.http ? await listenExtra(app, definition.http, config, common.host) : null;
  const httpPort = server ? (server.address() as AddressInfo).port : null;
  await definition.started?.(app, adapters, transport);
  logger.log(`ready; health on ${healthUrl}${httpPort ? `, http on port ${httpPort}` : ''}`, service);
  return {
    app,
    config,
    healthUrl,
    httpPort,
    close: async () => {
      server?.close();
      await app.close();
    },
  };
}

async function listenExtra<S extends SettingsTable, A>(
  app: INestApplication,
  http: NonNullable<ServiceDefinition<S, A>['http']>,
  config: ServiceProcessConfig<S>,
  host: string,
): Promise<Server> {
  const endpoint = http.endpoint(app);
  const server = createServer((req, res) => endpoint.handleRequest(req, res));
  server.on('upgrade', (req, socket, head) => {
    if (endpoint.handleUpgrade) endpoint.handleUpgrade(req, socket, head);
    else socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  });
  // Idle keep-alive sockets (the gateway's) must not hold the process at shutdown; upgraded ones the endpoint closes.
  server.keepAliveTimeout = 5_000;
  if (http.requestTimeoutMs !== undefined) server.requestTimeout = http.requestTimeoutMs;
  await new Promise<void>((resolve) => server.listen(http.port(config), host, resolve));
  return server;
}
