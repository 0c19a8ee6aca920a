import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Logger } from '@nestjs/common';
import Redis from 'ioredis';
import {
  CDP_ENDPOINT,
  type CdpEndpoint,
  CdpProxyModule,
  cdpProxyOptions,
  cdpProxySettings,
  RedisLeaseStore,
} from '@bctrl/cdp-proxy';
import { runServiceProcess } from '@bctrl/service';

/**
 * cdp-proxy as its own process: connection methods on NATS, leases in Redis, and `/v1/cdp/*` (WebSocket upgrades
 * and discovery) on BCTRL_CDP_PROXY_PORT for the gateway to forward to, or for an ingress to route to directly.
 */
export async function bootstrap() {
  const service = await runServiceProcess({
    service: 'cdp-proxy',
    settings: cdpProxySettings,
    modules: (config) => [
      CdpProxyModule.forRoot(
        cdpProxyOptions(config, new RedisLeaseStore(new Redis(config.redisUrl as string, { maxRetriesPerRequest: 2 }))),
      ),
    ],
  });
  const endpoint = service.app.get<CdpEndpoint>(CDP_ENDPOINT);
  const server = createServer((req, res) => {
    if (endpoint.handles(req.url)) endpoint.handleRequest(req, res);
    else {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'not_found', message: 'Only /v1/cdp/* is served here.' } }));
    }
  });
  server.on('upgrade', (req, socket, head) => {
    if (endpoint.handles(req.url)) endpoint.handleUpgrade(req, socket, head);
    else socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  });
  // Idle keep-alive sockets must not hold the process at shutdown; upgraded ones are closed by the endpoint.
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve) => server.listen(service.config.cdpProxyPort, service.config.host, resolve));
  const port = (server.address() as AddressInfo).port;
  new Logger('cdp-proxy').log(`cdp endpoint on port ${port}`);
  const close = service.close;
  return {
    ...service,
    cdpPort: port,
    close: async () => {
      server.close();
      await close();
    },
  };
}
