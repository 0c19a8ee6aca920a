import { Module } from '@nestjs/common';
import { describeConfig, loadConfig } from '@bctrl/config';
import {
  createGatewayApp,
  ForwardingCdpRoute,
  gatewayService,
  gatewaySettings,
  HttpStorageDataPlane,
  installCdpRoute,
  useStorageDataPlane,
} from '@bctrl/gateway';
import { PlatformModule } from '@bctrl/service';
import { JsonLogger } from '@bctrl/telemetry';
import { NatsTransport } from '@bctrl/transport';

/** The public API as its own process: NATS to reach the services, Redis for idempotency keys and rate limits. */
export async function bootstrap() {
  // The gateway's own settings only: it needs no database or object store, and boots without them.
  const config = loadConfig(gatewaySettings, { ...process.env, BCTRL_MODE: 'distributed' });
  const logger = new JsonLogger({ service: 'gateway', level: config.logLevel });
  logger.log(`starting with ${JSON.stringify(describeConfig(config, gatewaySettings))}`, 'gateway');
  const transport = await NatsTransport.connect({ servers: config.natsUrl as string, name: 'gateway' });

  @Module({
    imports: [
      PlatformModule.forRoot({ services: ['gateway'], transport }),
      ...gatewayService.modules(config, gatewayService.adapters.distributed(config)),
    ],
  })
  class GatewayRootModule {}

  const app = await createGatewayApp(GatewayRootModule, {
    maxBodyBytes: config.maxBodyBytes,
    publicUrl: config.publicUrl,
    logger,
  });
  // The connection token in /v1/cdp/* is the credential; cdp-proxy checks it (an ingress may route there directly).
  installCdpRoute(app, new ForwardingCdpRoute(config.cdpProxyUrl));
  // Object bytes cannot go over NATS: they stream to and from the storage app's data plane.
  const storage = new HttpStorageDataPlane(config.storageUrl);
  useStorageDataPlane(app, storage);
  app.getHttpServer().once('close', () => storage.close());
  await app.listen(config.port, config.host);
  logger.log(`listening on ${await app.getUrl()}`, 'gateway');
  return app;
}
