import { PageRequestSchema } from '@bctrl/contracts';
import { InProcessTransport } from './in-process.transport';
import { describeTransportConformance } from './transport.conformance';

describeTransportConformance(
  'in-process',
  () => {
    // One instance plays both sides, as in local mode where every service shares it.
    const transport = new InProcessTransport();
    return { server: transport, client: transport };
  },
  async ({ server }) => {
    await server.close();
  },
);

describe('InProcessTransport failures', () => {
  /** Calls `open` as a caller chaining `.catch` would: a synchronous throw would escape that chain. */
  function outcome(open: () => Promise<unknown>): Promise<unknown> {
    let opened: Promise<unknown> | undefined;
    expect(() => {
      opened = open();
    }).not.toThrow();
    return opened as Promise<unknown>;
  }

  it('rejects ping, consume and consumeBatch on a closed transport, never throwing synchronously', async () => {
    const transport = new InProcessTransport();
    await transport.close();
    const options = { durable: 'closed', filterSubject: 'runs.*.events', payload: PageRequestSchema };
    await expect(outcome(() => transport.ping())).rejects.toMatchObject({ code: 'unavailable' });
    await expect(outcome(() => transport.consume(options, () => undefined))).rejects.toMatchObject({
      code: 'unavailable',
    });
    await expect(outcome(() => transport.consumeBatch(options, () => undefined))).rejects.toMatchObject({
      code: 'unavailable',
    });
  });

  it('rejects reopening a durable with another filter, and batch limits out of range, never throwing synchronously', async () => {
    const transport = new InProcessTransport();
    try {
      const first = await transport.consume(
        { durable: 'filtered', filterSubject: 'runs.a.events', payload: PageRequestSchema },
        () => undefined,
      );
      await first.close();
      const other = { durable: 'filtered', filterSubject: 'runs.b.events', payload: PageRequestSchema };
      await expect(outcome(() => transport.consume(other, () => undefined))).rejects.toMatchObject({
        code: 'conflict',
      });
      const unbounded = { durable: 'batch', filterSubject: 'runs.*.events', payload: PageRequestSchema, maxBatch: 0 };
      await expect(outcome(() => transport.consumeBatch(unbounded, () => undefined))).rejects.toMatchObject({
        code: 'validation_failed',
      });
    } finally {
      await transport.close();
    }
  });
});
