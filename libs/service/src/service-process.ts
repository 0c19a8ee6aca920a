import type { DynamicModule, INestApplication, LoggerService } from '@nestjs/common';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { describeConfig, loadConfig, platformSettings, PlatformConfig } from '@bctrl/config';
import { JsonLogger } from '@bctrl/telemetry';
import { NatsTransport, Transport } from '@bctrl/transport';
import { PlatformModule } from './platform.module';

export interface ServiceProcessOptions {
  /** The service's name: its NATS queue group, its health subject, its logs' `service`. */
  service: string;
  /** The service's own modules, given its config and the connected transport. */
  modules?: (config: PlatformConfig, transport: Transport) => Promise<DynamicModule[]> | DynamicModule[];
  /** Before the modules load (migrations, for a service that owns tables). */
  prepare?: (config: PlatformConfig) => Promise<void>;
  env?: NodeJS.ProcessEnv;
}

export interface RunningService {
  app: INestApplication;
  config: PlatformConfig;
  /** Where its /healthz and /readyz answer. */
  healthUrl: string;
  close(): Promise<void>;
}

/**
 * Boots one service as its own process (distributed mode): config from the environment, checked at once
 * with every bad variable listed; NATS; the service's modules; /healthz and /readyz on BCTRL_HEALTH_PORT.
 */
export async function runServiceProcess(options: ServiceProcessOptions): Promise<RunningService> {
  const config = loadConfig(platformSettings, { ...(options.env ?? process.env), BCTRL_MODE: 'distributed' });
  const logger = new JsonLogger({ service: options.service, level: config.logLevel });
  logger.log(`starting with ${JSON.stringify(describeConfig(config, platformSettings))}`, options.service);
  await options.prepare?.(config);
  const transport = await NatsTransport.connect({ servers: config.natsUrl as string, name: options.service });
  const modules = (await options.modules?.(config, transport)) ?? [];

  @Module({ imports: [PlatformModule.forRoot({ services: [options.service], transport }), ...modules] })
  class ServiceRootModule {}

  const app = await NestFactory.create<NestFastifyApplication>(ServiceRootModule, new FastifyAdapter(), {
    logger: logger as LoggerService,
  });
  app.enableShutdownHooks();
  await app.listen(config.healthPort, config.host);
  const healthUrl = await app.getUrl();
  logger.log(`ready; health on ${healthUrl}`, options.service);
  return { app, config, healthUrl, close: () => app.close() };
}
