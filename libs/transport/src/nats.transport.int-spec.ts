import { NatsTransport } from './nats.transport';
import { describeTransportConformance } from './transport.conformance';

function natsUrl(): string {
  const url = process.env.BCTRL_TEST_NATS_URL;
  if (!url) throw new Error('BCTRL_TEST_NATS_URL is not set: run through jest, whose global setup starts nats-server');
  return url;
}

describeTransportConformance(
  'nats',
  async () => {
    // Two connections, so that every call really crosses the server rather than short-cutting on one socket.
    const [server, client] = await Promise.all([
      NatsTransport.connect({ servers: natsUrl(), name: 'conformance-server' }),
      NatsTransport.connect({ servers: natsUrl(), name: 'conformance-client' }),
    ]);
    return { server, client };
  },
  async ({ server, client }) => {
    await Promise.all([server.close(), client.close()]);
  },
);
