import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { launchTestChromium, type TestChromium } from '@bctrl/testing';
import { cdpCall, CdpError, CdpNoReplyError, CdpSession } from './cdp-session';

/** Against a real Chromium: the behaviours every user of the client (agent, live view, tests) relies on. */
describe('CdpSession', () => {
  let chromium: TestChromium;
  const sessions: CdpSession[] = [];
  const connect = async (options = {}) => {
    const session = await CdpSession.connect(chromium.browserUrl, options);
    sessions.push(session);
    return session;
  };

  beforeAll(async () => {
    chromium = await launchTestChromium('cdp-client');
  });

  afterEach(() => {
    for (const session of sessions.splice(0)) session.close();
  });

  afterAll(async () => {
    await chromium?.stop();
  });

  it('resolves a call with its result, and rejects a failed one with the CDP error code', async () => {
    const cdp = await connect();
    const version = await cdp.send<{ product: string }>('Browser.getVersion');
    expect(version.product).toMatch(/Chrome/);
    const failed = await cdp.send('No.suchMethod').catch((error: unknown) => error);
    expect(failed).toBeInstanceOf(CdpError);
    expect(failed).toMatchObject({ method: 'No.suchMethod', code: -32601 });
  });

  it('calls into flat sessions and hears their events with the session they came from', async () => {
    const cdp = await connect();
    const { targetId } = await cdp.send<{ targetId: string }>('Target.createTarget', { url: 'about:blank' });
    const { sessionId } = await cdp.send<{ sessionId: string }>('Target.attachToTarget', { targetId, flatten: true });
    const heard: Array<[unknown, string | undefined]> = [];
    cdp.on('Runtime.consoleAPICalled', (params, from) =>
      heard.push([(params['args'] as [{ value: unknown }])[0].value, from]),
    );
    await cdp.send('Runtime.enable', {}, { sessionId });
    const logged = cdp.waitForEvent('Runtime.consoleAPICalled', (_params, from) => from === sessionId);
    const evaluated = await cdp.send<{ result: { value: number } }>(
      'Runtime.evaluate',
      { expression: 'console.log("hello"); 6 * 7' },
      { sessionId },
    );
    expect(evaluated.result.value).toBe(42);
    await logged;
    expect(heard).toEqual([['hello', sessionId]]);
    await cdp.send('Target.closeTarget', { targetId });
  });

  it('times a call out without closing the session', async () => {
    const cdp = await connect();
    const { targetId } = await cdp.send<{ targetId: string }>('Target.createTarget', { url: 'about:blank' });
    const { sessionId } = await cdp.send<{ sessionId: string }>('Target.attachToTarget', { targetId, flatten: true });
    const never = cdp
      .send(
        'Runtime.evaluate',
        { expression: 'new Promise(() => {})', awaitPromise: true },
        { sessionId, timeoutMs: 200 },
      )
      .catch((error: unknown) => error);
    expect(await never).toMatchObject({ name: 'CdpNoReplyError', reason: 'timeout', method: 'Runtime.evaluate' });
    expect(cdp.closed).toBe(false);
    expect((await cdp.send<{ product: string }>('Browser.getVersion')).product).toMatch(/Chrome/);
    await cdp.send('Target.closeTarget', { targetId });
  });

  it('rejects every pending call when it is closed, and every later call at once', async () => {
    const cdp = await connect({ callTimeoutMs: 30_000 });
    const { targetId } = await cdp.send<{ targetId: string }>('Target.createTarget', { url: 'about:blank' });
    const { sessionId } = await cdp.send<{ sessionId: string }>('Target.attachToTarget', { targetId, flatten: true });
    const pending = [1, 2, 3].map((n) =>
      cdp
        .send('Runtime.evaluate', { expression: `new Promise(() => ${n})`, awaitPromise: true }, { sessionId })
        .catch((error: unknown) => error),
    );
    const waiting = cdp.waitForEvent('Never.happens', () => true, 30_000).catch((error: unknown) => error);
    let closedHeard = 0;
    cdp.onClose(() => closedHeard++);
    cdp.close();
    for (const error of await Promise.all(pending)) {
      expect(error).toBeInstanceOf(CdpNoReplyError);
      expect(error).toMatchObject({ reason: 'closed' });
    }
    expect(await waiting).toMatchObject({ reason: 'closed' });
    expect(closedHeard).toBe(1);
    await expect(cdp.send('Browser.getVersion')).rejects.toMatchObject({ reason: 'closed' });
    // The target outlives this client: it belongs to the browser.
    const other = await connect();
    await other.send('Target.closeTarget', { targetId });
  });

  it('rejects pending calls when the browser side closes the socket', async () => {
    const cdp = await connect({ callTimeoutMs: 30_000 });
    const { targetId } = await cdp.send<{ targetId: string }>('Target.createTarget', { url: 'about:blank' });
    // A page-level socket of that target: closing the target closes it from the browser's side.
    const page = await CdpSession.connect(`${chromium.origin}/devtools/page/${targetId}`, { callTimeoutMs: 30_000 });
    sessions.push(page);
    const pending = page
      .send('Runtime.evaluate', { expression: 'new Promise(() => {})', awaitPromise: true })
      .catch((error: unknown) => error);
    const closed = new Promise<void>((resolve) => page.onClose(() => resolve()));
    await cdp.send('Target.closeTarget', { targetId });
    await closed;
    expect(page.closed).toBe(true);
    expect(await pending).toMatchObject({ name: 'CdpNoReplyError', reason: 'closed' });
  });

  it('refuses a socket that does not open, naming the host and never the path (it can hold a token)', async () => {
    const error = await CdpSession.connect('ws://127.0.0.1:1/v1/cdp/secret-token', { connectTimeoutMs: 2000 }).catch(
      (e: unknown) => e as Error,
    );
    expect((error as Error).message).toMatch(/ECONNREFUSED/);
    expect((error as Error).message).not.toContain('secret-token');
  });

  it('serves a socket the caller opened and keeps, and reports the close code the other side sent', async () => {
    // A peer that closes with its own code, as cdp-proxy does on revoke (4001) or runtime stop (4003).
    const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    server.on('connection', (peer) =>
      peer.on('message', (data) => {
        const { id } = JSON.parse(String(data)) as { id: number };
        peer.send(JSON.stringify({ id, result: { product: 'Peer/1.0' } }));
        peer.close(4003, 'runtime stopped');
      }),
    );
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      const socket = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`);
      await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
      const cdp = CdpSession.over(socket);
      sessions.push(cdp);
      const heard = new Promise<[number, string]>((resolve) => cdp.onClose((code, reason) => resolve([code, reason])));
      expect(await cdp.send('Browser.getVersion')).toEqual({ product: 'Peer/1.0' });
      expect(await heard).toEqual([4003, 'runtime stopped']);
      expect(() => CdpSession.over(socket)).toThrow(/open socket/);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('makes a single call with cdpCall and closes after it', async () => {
    const version = await cdpCall<{ product: string }>(chromium.browserUrl, 'Browser.getVersion');
    expect(version.product).toMatch(/Chrome/);
    await expect(cdpCall(chromium.browserUrl, 'No.suchMethod')).rejects.toBeInstanceOf(CdpError);
  });
});
