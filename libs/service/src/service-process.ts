import type { DynamicModule, INestApplication, LoggerService } from '@nestjs/common';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { type ConfigOf, describeConfig, loadConfig, serviceProcessSettings, type SettingsTable } from '@bctrl/config';
import { JsonLogger } from '@bctrl/telemetry';
import { NatsTransport, Transport } from '@bctrl/transport';
import { PlatformModule } from './platform.module';

/** What a service process reads: every service process's settings and the service's own, nothing else. */
export type ServiceProcessConfig<S extends SettingsTable> = ConfigOf<typeof serviceProcessSettings & S>;

export interface ServiceProcessOptions<S extends SettingsTable> {
  /** The service's name: its NATS queue group, its health subject, its logs' `service`. */
  service: string;
  /** The settings the service reads besides every service process's; the process loads no other. */
  settings: S;
  /** The service's own modules, given its config and the connected transport. */
  modules?: (config: ServiceProcessConfig<S>, transport: Transport) => Promise<DynamicModule[]> | DynamicModule[];
  /** Before the modules load (migrations, for a service that owns tables). */
  prepare?: (config: ServiceProcessConfig<S>) => Promise<void>;
  env?: NodeJS.ProcessEnv;
}

export interface RunningService<S extends SettingsTable> {
  app: INestApplication;
  config: ServiceProcessConfig<S>;
  /** Where its /healthz and /readyz answer. */
  healthUrl: string;
  close(): Promise<void>;
}

/**
 * Boots one service as its own process (distributed mode): its own settings from the environment, checked at once
 * with every bad variable listed; NATS; the service's modules; /healthz and /readyz on BCTRL_HEALTH_PORT.
 */
export async function runServiceProcess<S extends SettingsTable>(
  options: ServiceProcessOptions<S>,
): Promise<RunningService<S>> {
  // Only this service's settings: a gateway needs no database URL, and must not refuse to boot without one.
  const settings = { ...serviceProcessSettings, ...options.settings };
  const config = loadConfig(settings, {
    ...(options.env ?? process.env),
    BCTRL_MODE: 'distributed',
  }) as ServiceProcessConfig<S>;
  // What this function itself reads, typed without the service's part (which TypeScript cannot see into here).
  const common = config as unknown as ConfigOf<typeof serviceProcessSettings>;
  const logger = new JsonLogger({ service: options.service, level: common.logLevel });
  logger.log(`starting with ${JSON.stringify(describeConfig(config, settings))}`, options.service);
  await options.prepare?.(config);
  const transport = await NatsTransport.connect({ servers: common.natsUrl as string, name: options.service });
  const modules = (await options.modules?.(config, transport)) ?? [];

  @Module({ imports: [PlatformModule.forRoot({ services: [options.service], transport }), ...modules] })
  class ServiceRootModule {}

  const app = await NestFactory.create<NestFastifyApplication>(ServiceRootModule, new FastifyAdapter(), {
    logger: logger as LoggerService,
  });
  app.enableShutdownHooks();
  await app.listen(common.healthPort, common.host);
  const healthUrl = await app.getUrl();
  logger.log(`ready; health on ${healthUrl}`, options.service);
  return { app, config, healthUrl, close: () => app.close() };
}
