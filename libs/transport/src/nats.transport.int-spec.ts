import { ErrorSchema } from '@bctrl/contracts';
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

describe('nats consumeBatch resumeInOrder', () => {
  it('after a consumer dies holding unacknowledged events, its successor replays them before newer ones, in stream order', async () => {
    const subject = `runs.order${Date.now()}${Math.floor(Math.random() * 1e6)}.events`;
    const durable = `order-${Date.now()}-${Math.floor(Math.random() * 1e6)}`;
    const publisher = await NatsTransport.connect({ servers: natsUrl(), name: 'order-publisher' });
    const doomed = await NatsTransport.connect({ servers: natsUrl(), name: 'order-doomed' });
    const operator = { principal: { kind: 'operator' as const } };
    const publish = async (from: number, to: number) => {
      for (let n = from; n < to; n++) {
        await publisher.publish(subject, ErrorSchema, { code: 'tick', message: String(n) }, operator);
      }
    };
    try {
      await publish(0, 10);
      // The first consumer stores batch 0..4, then dies (its connection drops) holding 5..9 unacknowledged.
      let batches = 0;
      let stalled: () => void = () => undefined;
      const holding = new Promise<void>((resolve) => (stalled = resolve));
      await doomed.consumeBatch(
        { durable, filterSubject: subject, payload: ErrorSchema, maxBatch: 5, maxWaitMs: 50, resumeInOrder: true },
        async () => {
          if (++batches === 1) return;
          stalled();
          await new Promise(() => undefined);
        },
      );
      await holding;
      await doomed.close().catch(() => undefined);
      await publish(10, 15);

      const successor = await NatsTransport.connect({ servers: natsUrl(), name: 'order-successor' });
      const seen: number[] = [];
      const consumer = await successor.consumeBatch(
        { durable, filterSubject: subject, payload: ErrorSchema, maxBatch: 100, maxWaitMs: 50, resumeInOrder: true },
        (items) => void seen.push(...items.map((item) => Number(item.payload.message))),
      );
      const deadline = Date.now() + 5_000;
      while (seen.length < 10 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      await consumer.close();
      await successor.close();
      // Well inside the default 30 s ackWait, and in order: the unacknowledged 5..9 first, then 10..14.
      expect(seen).toEqual([5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
    } finally {
      await publisher.close();
    }
  });
});
