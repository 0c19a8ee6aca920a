import { type MessageShape, toBinary } from '@bufbuild/protobuf';
import { commandsV1 } from '@bctrl/contracts';
import { InProcessTransport } from '@bctrl/transport';
import { CommandPublisher, CommandTracker } from './command-recorder';

type Batch = MessageShape<typeof commandsV1.CommandBatchSchema>;

const context = {
  runId: 'run_a',
  runtimeId: 'rt_a',
  spaceId: 'spc_a',
  accountId: 'acct_a',
  connectionId: 'conn_a',
};

const client = (json: object) => {
  const payload = Buffer.from(JSON.stringify(json));
  return { truncated: false as const, size: payload.length, payload };
};
const upstream = (text: string) => {
  const bytes = Buffer.from(text);
  return { size: bytes.length, head: bytes.subarray(0, 64), tail: bytes.subarray(-160), binary: false };
};

/** Collects what the publisher publishes, through the real in-process transport. */
async function collecting() {
  const transport = new InProcessTransport();
  const batches: Array<{ subject: string; batch: Batch }> = [];
  await transport.consume(
    { durable: 'spec', filterSubject: 'runs.*.commands', payload: commandsV1.CommandBatchSchema },
    (batch, meta) => void batches.push({ subject: meta.subject, batch }),
  );
  return { transport, batches };
}

describe('CommandTracker', () => {
  it('matches replies to commands by id and session, with timing, outcome, sizes and no params or results', async () => {
    const { transport, batches } = await collecting();
    const publisher = new CommandPublisher(transport, { flushIntervalMs: 5 });
    const tracker = new CommandTracker(context, publisher);
    tracker.onClientMessage(
      client({ id: 1, method: 'Page.navigate', params: { url: 'https://secret.example/?token=abc' }, sessionId: 'S1' }),
    );
    tracker.onClientMessage(client({ id: 1, method: 'Browser.getVersion' }));
    tracker.onClientMessage(
      client({ id: 2, method: 'Runtime.evaluate', params: { expression: 'password' }, sessionId: 'S1' }),
    );
    tracker.onUpstreamMessage(upstream('{"id":1,"result":{"product":"Chrome"}}'));
    tracker.onUpstreamMessage(upstream('{"method":"Page.loadEventFired","params":{},"sessionId":"S1"}'));
    tracker.onUpstreamMessage(upstream('{"id":2,"error":{"code":-32000,"message":"boom"},"sessionId":"S1"}'));
    tracker.onUpstreamMessage(upstream('{"id":1,"result":{"frameId":"F"},"sessionId":"S1"}'));
    await publisher.close();

    const records = batches.flatMap((b) => b.batch.records);
    expect(batches.every((b) => b.subject === 'runs.run_a.commands')).toBe(true);
    expect(records.map((r) => [r.method, r.sessionId, r.ok, r.errorCode])).toEqual([
      ['Browser.getVersion', '', true, ''],
      ['Runtime.evaluate', 'S1', false, '-32000'],
      ['Page.navigate', 'S1', true, ''],
    ]);
    for (const record of records) {
      expect(record).toMatchObject({ ...context, source: 'cdp' });
      expect(record.requestBytes).toBeGreaterThan(0n);
      expect(record.responseBytes).toBeGreaterThan(0n);
      expect(Date.parse(record.startedAt)).not.toBeNaN();
    }
    const [first] = batches;
    if (!first) throw new Error('nothing was published');
    const wire = Buffer.from(toBinary(commandsV1.CommandBatchSchema, first.batch)).toString('latin1');
    expect(wire).not.toContain('secret.example');
    expect(wire).not.toContain('password');
  });

  it('records commands still unanswered when the socket closes as no_reply, and ignores events and stray replies', async () => {
    const { transport, batches } = await collecting();
    const publisher = new CommandPublisher(transport, { flushIntervalMs: 5 });
    const tracker = new CommandTracker(context, publisher);
    tracker.onClientMessage(client({ id: 9, method: 'Page.captureScreenshot', sessionId: 'S' }));
    tracker.onClientMessage(client({ not: 'a command' }));
    tracker.onUpstreamMessage(upstream('{"id":77,"result":{}}'));
    tracker.finish();
    await publisher.close();
    const records = batches.flatMap((b) => b.batch.records);
    expect(records.map((r) => [r.method, r.ok, r.errorCode, r.durationMicros])).toEqual([
      ['Page.captureScreenshot', false, 'no_reply', 0n],
    ]);
  });
});

describe('CommandPublisher', () => {
  it('publishes one batch per run, split at maxBatch', async () => {
    const { transport, batches } = await collecting();
    const publisher = new CommandPublisher(transport, { flushIntervalMs: 1_000, maxBatch: 3 });
    const tracker = (runId: string) => new CommandTracker({ ...context, runId }, publisher);
    const a = tracker('run_a');
    const b = tracker('run_b');
    for (let id = 1; id <= 4; id++) a.onClientMessage(client({ id, method: 'M.a' }));
    b.onClientMessage(client({ id: 1, method: 'M.b' }));
    a.finish();
    b.finish();
    await publisher.close();
    expect(batches.map((x) => [x.subject, x.batch.records.length]).sort()).toEqual([
      ['runs.run_a.commands', 1],
      ['runs.run_a.commands', 3],
      ['runs.run_b.commands', 1],
    ]);
    expect(publisher.published).toBe(5);
  });

  it('keeps records through a failed publish and sends them, in order, on the next flush', async () => {
    const { transport, batches } = await collecting();
    let failures = 1;
    const flaky = Object.create(transport) as InProcessTransport;
    flaky.publish = (async (...args: Parameters<InProcessTransport['publish']>) => {
      if (failures-- > 0) throw new Error('stream unavailable');
      return transport.publish(...args);
    }) as InProcessTransport['publish'];
    const publisher = new CommandPublisher(flaky, { flushIntervalMs: 5 });
    const tracker = new CommandTracker(context, publisher);
    tracker.onClientMessage(client({ id: 1, method: 'First.one' }));
    tracker.finish();
    await publisher.flush();
    expect(batches).toHaveLength(0);
    tracker.onClientMessage(client({ id: 2, method: 'Second.one' }));
    tracker.finish();
    await publisher.close();
    expect(batches.flatMap((x) => x.batch.records.map((r) => r.method))).toEqual(['First.one', 'Second.one']);
  });

  it('drops the oldest records past maxBuffered and counts them', async () => {
    const { transport, batches } = await collecting();
    const publisher = new CommandPublisher(transport, { flushIntervalMs: 10_000, maxBatch: 1_000, maxBuffered: 3 });
    const tracker = new CommandTracker(context, publisher);
    for (let id = 1; id <= 5; id++) tracker.onClientMessage(client({ id, method: `M.n${id}` }));
    tracker.finish();
    await publisher.close();
    expect(publisher.dropped).toBe(2);
    expect(batches.flatMap((x) => x.batch.records.map((r) => r.method))).toEqual(['M.n3', 'M.n4', 'M.n5']);
  });
});
