import {
  Controller,
  DynamicModule,
  Get,
  HttpCode,
  Inject,
  Injectable,
  Module,
  OnApplicationBootstrap,
  OnApplicationShutdown,
  Res,
} from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { healthMethod } from '@bctrl/contracts';
import { activeTelemetry } from '@bctrl/telemetry';
import { Closable, TRANSPORT, Transport } from '@bctrl/transport';
import { bindHandlers, handle } from './handlers';
import { HealthRegistry } from './health';

export interface PlatformOptions {
  /** The services this process hosts: one in distributed mode, all of them in local mode. */
  services: string[];
  transport: Transport;
  /** Close the transport on shutdown (true unless the caller owns it). */
  ownsTransport?: boolean;
}

const PLATFORM_OPTIONS = Symbol.for('bctrl.platform.options');

@Controller()
export class HealthController {
  constructor(private readonly health: HealthRegistry) {}

  /** Liveness: the process answers. Nothing outside it is consulted, so a broken database never restarts it. */
  @Get('healthz')
  @HttpCode(200)
  healthz() {
    return { status: 'ok' };
  }

  @Get('readyz')
  async readyz(@Res() reply: FastifyReply) {
    const result = await this.health.run();
    await reply.status(result.ready ? 200 : 503).send({ status: result.ready ? 'ready' : 'unavailable', ...result });
  }
}

@Injectable()
class PlatformLifecycle implements OnApplicationBootstrap, OnApplicationShutdown {
  private handlers: Closable | null = null;

  constructor(
    @Inject(PLATFORM_OPTIONS) private readonly options: PlatformOptions,
    @Inject(TRANSPORT) private readonly transport: Transport,
    private readonly health: HealthRegistry,
  ) {
    health.add('transport', () => transport.ping());
  }

  onApplicationBootstrap() {
    this.handlers = bindHandlers(
      this.transport,
      this.options.services.map((service) =>
        handle(healthMethod(service), async () => ({ service, ...(await this.health.run({ peers: false })) })),
      ),
    );
  }

  async onApplicationShutdown() {
    await this.handlers?.close();
    if (this.options.ownsTransport !== false) await this.transport.close();
    // The last export interval's metrics and the batched spans would die with the process: send them now. A flush,
    // not a shutdown: tests start several apps in one process, and the exporter is the process's.
    await activeTelemetry()
      ?.forceFlush()
      .catch(() => undefined);
  }
}

/** What every BCTRL process has: the transport, health and readiness, and their HTTP routes. */
@Module({})
export class PlatformModule {
  static forRoot(options: PlatformOptions): DynamicModule {
    return {
      module: PlatformModule,
      global: true,
      controllers: [HealthController],
      providers: [
        { provide: PLATFORM_OPTIONS, useValue: options },
        { provide: TRANSPORT, useValue: options.transport },
        HealthRegistry,
        PlatformLifecycle,
      ],
      exports: [TRANSPORT, HealthRegistry],
    };
  }
}
