import { captureMetrics } from '@bctrl/telemetry/testing';
import { InProcessTransport } from '@bctrl/transport';
import { CdpTraffic } from './cdp-traffic';
import { CommandPublisher, CommandTracker } from './command-recorder';

const client = (json: object) => {
  const payload = Buffer.from(JSON.stringify(json));
  return { truncated: false as const, size: payload.length, payload };
};
const upstream = (text: string, binary = false) => {
  const bytes = Buffer.from(text);
  return { size: bytes.length, head: bytes.subarray(0, 64), tail: bytes.subarray(-160), binary };
};

function tracked() {
  const traffic = new CdpTraffic();
  const publisher = new CommandPublisher(new InProcessTransport(), { flushIntervalMs: 60_000 });
  const context = { runId: 'run_a', runtimeId: 'rt_a', spaceId: 'spc_a', accountId: 'acct_a', connectionId: 'conn_a' };
  return { traffic, publisher, tracker: new CommandTracker(context, publisher, traffic) };
}

describe('CdpTraffic through the command tracker', () => {
  it('counts client commands by method, replies under the command they answer, and events by their method', async () => {
    const { traffic, publisher, tracker } = tracked();
    const navigate = client({ id: 1, method: 'Page.navigate', params: { url: 'https://example.com' }, sessionId: 'S' });
    tracker.onClientMessage(navigate);
    tracker.onClientMessage(client({ id: 2, method: 'Runtime.evaluate', params: { expression: '1' } }));
    const reply = upstream('{"id":1,"result":{"frameId":"F"},"sessionId":"S"}');
    tracker.onUpstreamMessage(reply);
    tracker.onUpstreamMessage(upstream('{"id":2,"result":{}}'));
    tracker.onUpstreamMessage(upstream('{"method":"Page.loadEventFired","params":{},"sessionId":"S"}'));
    await publisher.close();

    expect(traffic.messageTotals()).toEqual([
      [1, { direction: 'client', 'cdp.method': 'Page.navigate' }],
      [1, { direction: 'client', 'cdp.method': 'Runtime.evaluate' }],
      [1, { direction: 'browser', 'cdp.method': 'Page.navigate' }],
      [1, { direction: 'browser', 'cdp.method': 'Runtime.evaluate' }],
      [1, { direction: 'browser', 'cdp.method': 'Page.loadEventFired' }],
    ]);
    const sent = navigate.size + client({ id: 2, method: 'Runtime.evaluate', params: { expression: '1' } }).size;
    expect(traffic.byteTotals()[0]).toEqual([sent, { direction: 'client' }]);
    expect(traffic.byteTotals()[1]?.[0]).toBeGreaterThan(reply.size);
  });

  it('counts what has no method it can tell as unknown: stray replies, binary frames, non-commands', async () => {
    const { traffic, publisher, tracker } = tracked();
    tracker.onClientMessage(client({ not: 'a command' }));
    tracker.onUpstreamMessage(upstream('{"id":77,"result":{}}'));
    tracker.onUpstreamMessage(upstream('\u0000\u0001', true));
    await publisher.close();
    expect(traffic.messageTotals()).toEqual([
      [1, { direction: 'client', 'cdp.method': 'unknown' }],
      [2, { direction: 'browser', 'cdp.method': 'unknown' }],
    ]);
  });

  it('reads a method a client made up in the wrong shape as other, so it cannot mint a series', async () => {
    const { traffic, publisher, tracker } = tracked();
    tracker.onClientMessage(client({ id: 1, method: `Evil.${'x'.repeat(500)}` }));
    tracker.onClientMessage(client({ id: 2, method: 'not a method' }));
    await publisher.close();
    expect(traffic.messageTotals()).toEqual([[2, { direction: 'client', 'cdp.method': 'other' }]]);
  });

  it('gives its running totals to bctrl.cdp.messages and bctrl.cdp.bytes on collection, until removed', async () => {
    const metrics = captureMetrics('cdp-proxy');
    const { traffic, publisher, tracker } = tracked();
    const stop = traffic.observe();
    try {
      tracker.onClientMessage(client({ id: 1, method: 'Browser.getVersion' }));
      tracker.onUpstreamMessage(upstream('{"id":1,"result":{"product":"Chrome"}}'));
      expect(await metrics.points('bctrl.cdp.messages')).toEqual([
        { attributes: { direction: 'client', 'cdp.method': 'Browser.getVersion' }, value: 1 },
        { attributes: { direction: 'browser', 'cdp.method': 'Browser.getVersion' }, value: 1 },
      ]);
      tracker.onClientMessage(client({ id: 2, method: 'Browser.getVersion' }));
      const bytes = await metrics.points('bctrl.cdp.bytes');
      expect(bytes.map((point) => point.attributes)).toEqual([{ direction: 'client' }, { direction: 'browser' }]);
      expect((await metrics.points('bctrl.cdp.messages'))[0]?.value).toBe(2);
    } finally {
      stop();
      await publisher.close();
      await metrics.stop();
    }
  });
});
