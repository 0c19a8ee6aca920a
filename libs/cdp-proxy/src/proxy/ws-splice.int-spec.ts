import { createServer, type IncomingMessage, type Server } from 'node:http';
import {
  type AddressInfo,
  connect,
  createServer as createTcpServer,
  type Server as TcpServer,
  type Socket,
} from 'node:net';
import type { Duplex } from 'node:stream';
import { crc32, inflateSync } from 'node:zlib';
import WebSocket, { type RawData, WebSocketServer } from 'ws';
import { launchTestChromium, type TestChromium } from '@bctrl/testing';
import { acceptKeyFor, FrameParser, MessageCollector } from './ws-frames';
import {
  acceptClient,
  type ClientMessage,
  dialUpstream,
  parseClientMessage,
  parseUpstreamMeta,
  rejectUpgrade,
  type Splice,
  splice,
  type SpliceOptions,
  type UpstreamMessageMeta,
} from './ws-splice';

jest.setTimeout(60_000);

// ---------------------------------------------------------------------------------------------------------------
// The proxy under test: what the CDP proxy service does, minus authentication.

interface Spliced {
  splice: Splice;
  upstream: Socket;
  clientMessages: ClientMessage[];
  upstreamMessages: UpstreamMessageMeta[];
}

interface TestProxy {
  url: string;
  /** Resolves with the next connection the proxy splices. */
  nextSplice(): Promise<Spliced>;
  stop(): Promise<void>;
}

/** Upstream = `upstreamOrigin` + the client's path; `/refuse…` is refused before any upgrade, as a bad key is. */
async function startProxy(upstreamOrigin: string, options: Partial<SpliceOptions> = {}): Promise<TestProxy> {
  const server = createServer();
  const sockets = new Set<Duplex>();
  const ready: Spliced[] = [];
  const waiters: ((spliced: Spliced) => void)[] = [];
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    const earlyError = () => socket.destroy();
    socket.on('error', earlyError);
    if (req.url?.startsWith('/refuse')) {
      rejectUpgrade(socket, 401, 'UNAUTHENTICATED', 'a valid API key is required', {
        'WWW-Authenticate': 'Bearer',
      });
      return;
    }
    void dialUpstream(`${upstreamOrigin}${req.url ?? '/'}`, { timeoutMs: 5000 }).then(
      (dialed) => {
        sockets.add(dialed.socket);
        dialed.socket.once('close', () => sockets.delete(dialed.socket));
        if (!acceptClient(req, socket)) {
          dialed.socket.destroy();
          return;
        }
        const spliced: Spliced = {
          upstream: dialed.socket,
          clientMessages: [],
          upstreamMessages: [],
          splice: undefined as unknown as Splice,
        };
        spliced.splice = splice(socket, dialed.socket, {
          ...options,
          clientHead: head,
          upstreamHead: dialed.head,
          onClientMessage: (message) => spliced.clientMessages.push(message),
          onUpstreamMessage: (meta) => spliced.upstreamMessages.push(meta),
        });
        socket.off('error', earlyError);
        const waiter = waiters.shift();
        if (waiter) waiter(spliced);
        else ready.push(spliced);
      },
      (error: Error) => rejectUpgrade(socket, 503, 'BROWSER_UNAVAILABLE', error.message),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}`,
    nextSplice: () => {
      const first = ready.shift();
      return first ? Promise.resolve(first) : new Promise((resolve) => waiters.push(resolve));
    },
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Helpers

function openClient(url: string, options: WebSocket.ClientOptions = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: true, ...options });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

interface CloseSeen {
  code: number;
  reason: string;
  errors: Error[];
}

/** The client's 'close' event, and any 'error' before it (a protocol error shows up there). */
function closeOf(ws: WebSocket): Promise<CloseSeen> {
  const errors: Error[] = [];
  ws.on('error', (error) => errors.push(error));
  return new Promise((resolve) =>
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString(), errors })),
  );
}

function toBuffer(data: RawData): Buffer {
  return Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
}

function nextMessage(ws: WebSocket): Promise<{ data: Buffer; isBinary: boolean }> {
  return new Promise((resolve) => ws.once('message', (data, isBinary) => resolve({ data: toBuffer(data), isBinary })));
}

function listen(server: Server | TcpServer): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
    }),
  ]);
}

interface RawClient {
  socket: Socket;
  /** The response head, once complete. */
  response(): string;
  /** Every byte after the response head, as it came. */
  frames(): Buffer;
  closed: Promise<void>;
}

/**
 * A WebSocket client by hand, to see exactly which bytes arrive. `early` goes in the same write as the upgrade
 * request, as a client that does not wait for the 101 would send it.
 */
async function rawClient(url: string, key: string, early: Buffer = Buffer.alloc(0)): Promise<RawClient> {
  const target = new URL(url);
  const socket = connect(Number(target.port), target.hostname);
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  let received = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => (received = Buffer.concat([received, chunk])));
  socket.write(
    Buffer.concat([
      Buffer.from(
        `GET ${target.pathname} HTTP/1.1\r\nHost: ${target.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      ),
      early,
    ]),
  );
  const headEnd = () => received.indexOf('\r\n\r\n');
  return {
    socket,
    response: () => (headEnd() === -1 ? '' : received.toString('latin1', 0, headEnd())),
    frames: () => (headEnd() === -1 ? Buffer.alloc(0) : received.subarray(headEnd() + 4)),
    closed,
  };
}

async function until(condition: () => boolean, ms: number, what: string): Promise<void> {
  await within(
    (async () => {
      while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5));
    })(),
    ms,
    what,
  );
}

/** Deterministic printable text, so that a corrupted byte cannot go unnoticed. */
function text(length: number, seed: number): string {
  let state = seed;
  let out = '';
  const block: string[] = [];
  for (let i = 0; i < Math.min(length, 4099); i += 1) {
    state = (state * 1103515245 + 12345) >>> 0;
    block.push(String.fromCharCode(97 + (state >>> 27)));
  }
  const unit = block.join('');
  while (out.length < length) out += unit;
  return out.slice(0, length);
}

// ---------------------------------------------------------------------------------------------------------------
// (a) A scripted ws server

interface ScriptedServer {
  origin: string;
  received: { data: Buffer; isBinary: boolean }[];
  closes: { code: number; reason: string }[];
  extensions: string[];
  stop(): Promise<void>;
}

/**
 * Echoes every message, except commands: `big:<n>` answers with an n-byte text message, `close:<code>:<reason>`
 * closes, `fragments` answers with a message in three fragments and a ping between them.
 */
async function startScriptedServer(): Promise<ScriptedServer> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: true });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  const scripted: ScriptedServer = {
    origin: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`,
    received: [],
    closes: [],
    extensions: [],
    stop: async () => {
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
  wss.on('connection', (ws) => {
    scripted.extensions.push(ws.extensions);
    ws.on('close', (code, reason) => scripted.closes.push({ code, reason: reason.toString() }));
    ws.on('error', () => undefined);
    ws.on('message', (raw, isBinary) => {
      const data = toBuffer(raw);
      scripted.received.push({ data, isBinary });
      const command = isBinary ? '' : data.toString();
      if (command.startsWith('big:')) {
        ws.send(text(Number(command.slice(4)), 7));
      } else if (command.startsWith('close:')) {
        const [, code, reason] = command.split(':');
        ws.close(Number(code), reason);
      } else if (command === 'fragments') {
        ws.send('{"part":1,', { fin: false });
        ws.ping('mid-message');
        ws.send(text(300, 3), { fin: false });
        ws.send(',"end":true}', { fin: true });
      } else {
        ws.send(data, { binary: isBinary });
      }
    });
  });
  return scripted;
}

describe('splice in front of a ws server', () => {
  let server: ScriptedServer;
  let proxy: TestProxy;

  beforeAll(async () => {
    server = await startScriptedServer();
    // Generous: these tests are about closing at a frame boundary, not about the give-up timeout (tested below).
    proxy = await startProxy(server.origin, { midFrameTimeoutMs: 5_000 });
  });
  afterAll(async () => {
    await proxy.stop();
    await server.stop();
  });

  it('forwards every message kind unchanged, declines permessage-deflate on both legs, and taps both ways', async () => {
    const ws = await openClient(`${proxy.url}/echo`);
    const { splice: spliced, clientMessages, upstreamMessages } = await proxy.nextSplice();
    expect(ws.extensions).toBe('');
    expect(server.extensions.at(-1)).toBe('');

    const payloads = [
      { data: Buffer.from('{"id":1,"method":"Browser.getVersion"}'), isBinary: false },
      { data: Buffer.from(text(300, 1)), isBinary: false },
      { data: Buffer.from(text(70_000, 2)), isBinary: false },
      { data: Buffer.from(text(2 * 1024 * 1024 + 3, 3)), isBinary: false },
      { data: Buffer.from([0, 1, 2, 253, 254, 255]), isBinary: true },
    ];
    for (const payload of payloads) {
      const echoed = nextMessage(ws);
      ws.send(payload.data, { binary: payload.isBinary });
      const back = await echoed;
      expect(back.isBinary).toBe(payload.isBinary);
      expect(back.data.equals(payload.data)).toBe(true);
    }
    // A fragmented message from the client, with a ping between its fragments.
    const fragmentsEcho = nextMessage(ws);
    ws.send('{"id":2,', { fin: false });
    ws.ping('between fragments');
    ws.send('"method":"Page.enable"}', { fin: true });
    expect((await fragmentsEcho).data.toString()).toBe('{"id":2,"method":"Page.enable"}');
    // A fragmented message from the server, with a ping between its fragments.
    const fragmented = nextMessage(ws);
    ws.send('fragments');
    const fromServer = (await fragmented).data.toString();
    expect(fromServer).toBe(`{"part":1,${text(300, 3)},"end":true}`);

    const closed = closeOf(ws);
    ws.close(1000, 'done');
    expect(await closed).toEqual({ code: 1000, reason: 'done', errors: [] });
    expect(await within(spliced.closed, 5000, 'splice closed')).toEqual({ by: 'client', code: 1000, reason: 'done' });

    expect(server.received.map((m) => m.data.toString('latin1'))).toEqual([
      ...payloads.map((p) => p.data.toString('latin1')),
      '{"id":2,"method":"Page.enable"}',
      'fragments',
    ]);
    // Text only, the 2 MiB message as head and tail.
    expect(clientMessages.map((m) => (m.truncated ? { size: m.size } : m.payload.toString()))).toEqual([
      payloads[0].data.toString(),
      payloads[1].data.toString(),
      payloads[2].data.toString(),
      { size: payloads[3].data.length },
      '{"id":2,"method":"Page.enable"}',
      'fragments',
    ]);
    const truncated = clientMessages[3];
    if (!truncated.truncated) throw new Error('expected the 2 MiB message truncated');
    expect(truncated.head.equals(payloads[3].data.subarray(0, 4096))).toBe(true);
    expect(truncated.tail.equals(payloads[3].data.subarray(-4096))).toBe(true);
    expect(parseClientMessage(clientMessages[0])).toEqual({ id: 1, method: 'Browser.getVersion' });

    const echoedBack = [...payloads.map((p) => p.data), Buffer.from('{"id":2,"method":"Page.enable"}')];
    echoedBack.push(Buffer.from(fromServer));
    expect(upstreamMessages.map((m) => m.size)).toEqual(echoedBack.map((b) => b.length));
    upstreamMessages.forEach((meta, i) => {
      expect(meta.head.equals(echoedBack[i].subarray(0, 64))).toBe(true);
      expect(meta.tail.equals(echoedBack[i].subarray(-160))).toBe(true);
      expect(meta.binary).toBe(i === 4);
    });
    expect(spliced.messagesFromClient).toBe(7);
    expect(spliced.messagesFromUpstream).toBe(7);
    const sent = payloads.reduce((sum, p) => sum + p.data.length, 0);
    expect(spliced.bytesFromClient).toBeGreaterThan(sent);
    expect(spliced.bytesFromUpstream).toBeGreaterThan(sent);
  });

  it('passes the server close frame through and reports its code', async () => {
    const ws = await openClient(`${proxy.url}/x`);
    const { splice: spliced } = await proxy.nextSplice();
    const closed = closeOf(ws);
    ws.send('close:4003:bye');
    expect(await closed).toEqual({ code: 4003, reason: 'bye', errors: [] });
    expect(await within(spliced.closed, 5000, 'splice closed')).toEqual({ by: 'upstream', code: 4003, reason: 'bye' });
  });

  it('on close(), finishes the frame being streamed, then closes both ends with the code and reason', async () => {
    const ws = await openClient(`${proxy.url}/x`);
    const { splice: spliced, upstream } = await proxy.nextSplice();
    const closes = server.closes.length;
    const size = 8 * 1024 * 1024;
    const messages: Buffer[] = [];
    ws.on('message', (data) => messages.push(toBuffer(data)));
    const closed = closeOf(ws);
    let upstreamBytesAtClose = 0;
    const onData = () => {
      if (spliced.bytesFromUpstream < 256 * 1024) return;
      upstream.off('data', onData);
      upstreamBytesAtClose = spliced.bytesFromUpstream;
      spliced.close(4001, 'connection revoked');
    };
    upstream.on('data', onData);
    ws.send(`big:${size}`);

    expect(await within(closed, 10_000, 'client close')).toEqual({
      code: 4001,
      reason: 'connection revoked',
      errors: [],
    });
    expect(upstreamBytesAtClose).toBeGreaterThan(0);
    expect(upstreamBytesAtClose).toBeLessThan(size);
    expect(messages).toHaveLength(1);
    expect(messages[0].equals(Buffer.from(text(size, 7)))).toBe(true);
    expect(await within(spliced.closed, 5000, 'splice closed')).toEqual({
      by: 'proxy',
      code: 4001,
      reason: 'connection revoked',
    });
    // The masked close frame the proxy sent the server was well formed, or ws would have reported 1002.
    await within(
      (async () => {
        while (server.closes.length === closes) await new Promise((resolve) => setTimeout(resolve, 10));
      })(),
      5000,
      'server close',
    );
    expect(server.closes.at(-1)).toEqual({ code: 4001, reason: 'connection revoked' });
    // close() is idempotent.
    expect(() => spliced.close(4002, 'again')).not.toThrow();
  });

  it('rejects a close code a close frame may not carry', async () => {
    const ws = await openClient(`${proxy.url}/x`);
    const { splice: spliced } = await proxy.nextSplice();
    expect(() => spliced.close(1006, 'abnormal')).toThrow(RangeError);
    const closed = closeOf(ws);
    spliced.close(1000, '');
    expect((await closed).code).toBe(1000);
  });

  it('refuses an upgrade with the JSON error envelope', async () => {
    const ws = new WebSocket(`${proxy.url}/refuse`);
    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      ws.once('unexpected-response', (_req, res) => resolve(res));
      ws.once('open', () => reject(new Error('upgraded')));
      ws.once('error', reject);
    });
    let body = '';
    for await (const chunk of response) body += String(chunk);
    expect(response.statusCode).toBe(401);
    expect(response.headers['content-type']).toBe('application/json');
    expect(response.headers['www-authenticate']).toBe('Bearer');
    expect(JSON.parse(body)).toEqual({ error: { code: 'UNAUTHENTICATED', message: 'a valid API key is required' } });
    ws.on('error', () => undefined);
    ws.terminate();
  });

  it('answers 503 when the upstream cannot be dialed', async () => {
    const dead = createTcpServer();
    const port = await listen(dead);
    await new Promise<void>((resolve) => dead.close(() => resolve()));
    const unreachable = await startProxy(`ws://127.0.0.1:${port}`);
    try {
      const ws = new WebSocket(`${unreachable.url}/devtools/browser/x`);
      const status = await new Promise<number | undefined>((resolve, reject) => {
        ws.once('unexpected-response', (_req, res) => resolve(res.statusCode));
        ws.once('open', () => reject(new Error('upgraded')));
      });
      expect(status).toBe(503);
      ws.on('error', () => undefined);
      ws.terminate();
    } finally {
      await unreachable.stop();
    }
  });
});

describe('splice edge cases with raw sockets', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  /** An upstream that completes the upgrade with acceptClient and then does what `behave` says. */
  async function rawUpstream(behave: (socket: Duplex) => void): Promise<string> {
    const server = createServer();
    const sockets = new Set<Duplex>();
    server.on('upgrade', (req: IncomingMessage, socket: Duplex) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
      if (acceptClient(req, socket)) behave(socket);
    });
    const port = await listen(server);
    cleanups.push(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });
    return `ws://127.0.0.1:${port}`;
  }

  it('destroys the client when the browser stays inside a frame for longer than the mid-frame timeout', async () => {
    // A 100 000-byte text frame, of which only 1 000 bytes ever come.
    const partial = Buffer.concat([
      Buffer.from([0x81, 127, 0, 0, 0, 0, 0, 0x01, 0x86, 0xa0]),
      Buffer.alloc(1000, 0x61),
    ]);
    const origin = await rawUpstream((socket) => socket.write(partial));
    const proxy = await startProxy(origin, { midFrameTimeoutMs: 250 });
    cleanups.push(() => proxy.stop());
    const client = await rawClient(`${proxy.url}/stall`, 'dGhlIHNhbXBsZSBub25jZQ==');
    cleanups.push(() => void client.socket.destroy());
    const { splice: spliced } = await proxy.nextSplice();
    await until(() => client.frames().length === partial.length, 5000, 'partial frame');
    const started = Date.now();
    spliced.close(4001, 'connection revoked');
    await within(client.closed, 5000, 'client socket closed');
    const elapsed = Date.now() - started;
    // No close frame could be written without landing inside the frame: the client got nothing more.
    expect(client.frames().equals(partial)).toBe(true);
    expect(elapsed).toBeGreaterThanOrEqual(200);
    expect(await within(spliced.closed, 5000, 'splice closed')).toEqual({
      by: 'proxy',
      code: 4001,
      reason: 'connection revoked',
    });
  });

  it('sends the client a close frame when the browser drops the connection without one', async () => {
    const origin = await rawUpstream((socket) => {
      socket.write(Buffer.from([0x81, 2, 0x68, 0x69]));
      setTimeout(() => socket.destroy(), 50);
    });
    const proxy = await startProxy(origin);
    cleanups.push(() => proxy.stop());
    const ws = await openClient(`${proxy.url}/drop`);
    const { splice: spliced } = await proxy.nextSplice();
    const closed = closeOf(ws);
    expect(await within(closed, 5000, 'client close')).toEqual({
      code: 1001,
      reason: 'browser connection closed',
      errors: [],
    });
    expect((await spliced.closed).by).toBe('upstream');
  });

  it('forwards the bytes that came with either handshake before anything else', async () => {
    // The upstream writes its 101 and a first frame in one write, so they arrive together.
    const upstreamServer = createTcpServer((socket) => {
      socket.on('error', () => undefined);
      let request = '';
      socket.on('data', (chunk) => {
        if (!request.includes('\r\n\r\n')) {
          request += chunk.toString('latin1');
          if (!request.includes('\r\n\r\n')) return;
          const key = /sec-websocket-key: (\S+)/i.exec(request)?.[1] ?? '';
          socket.write(
            Buffer.concat([
              Buffer.from(
                'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
                  `Sec-WebSocket-Accept: ${acceptKeyFor(key)}\r\n\r\n`,
              ),
              Buffer.from([0x81, 5, ...Buffer.from('hello')]),
            ]),
          );
          return;
        }
        // Echo the client's frames as they come: masked frames in, so they can be checked unmasked later.
        socket.write(chunk);
      });
    });
    const upstreamPort = await listen(upstreamServer);
    cleanups.push(() => new Promise<void>((resolve) => upstreamServer.close(() => resolve())));

    const dialed = await dialUpstream(`ws://127.0.0.1:${upstreamPort}/first`);
    expect(dialed.head.equals(Buffer.from([0x81, 5, ...Buffer.from('hello')]))).toBe(true);
    dialed.socket.destroy();

    const proxy = await startProxy(`ws://127.0.0.1:${upstreamPort}`);
    cleanups.push(() => proxy.stop());
    // The client sends its upgrade request and a first (masked) frame in one write.
    const mask = [1, 2, 3, 4];
    const early = Buffer.from('early');
    const maskedFrame = Buffer.from([0x81, 0x80 | early.length, ...mask, ...early.map((b, i) => b ^ mask[i & 3])]);
    const key = Buffer.alloc(16, 7).toString('base64');
    const client = await rawClient(`${proxy.url}/first`, key, maskedFrame);
    cleanups.push(() => void client.socket.destroy());
    const messages: string[] = [];
    const parser = new FrameParser(
      new MessageCollector({
        wholeUpTo: 1 << 20,
        headBytes: 0,
        tailBytes: 0,
        accept: () => true,
        complete: (message) => messages.push(message.payload().toString()),
      }),
    );
    await until(() => client.frames().length >= 7 + 11, 5000, 'two frames');
    parser.feed(client.frames());
    expect(client.response()).toMatch(/^HTTP\/1\.1 101 /);
    expect(client.response().split('\r\n')).toContain(`Sec-WebSocket-Accept: ${acceptKeyFor(key)}`);
    expect(messages).toEqual(['hello', 'early']);
  });

  describe('dialUpstream', () => {
    it('rejects a non-101 answer with its status line', async () => {
      const server = createServer((_req, res) => res.writeHead(404).end('no such target'));
      const port = await listen(server);
      cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
      await expect(dialUpstream(`ws://127.0.0.1:${port}/devtools/page/nope`)).rejects.toThrow(
        /expected 101 Switching Protocols, got "HTTP\/1\.1 404 Not Found"/,
      );
    });

    it('rejects a 101 with a wrong Sec-WebSocket-Accept, or with an extension it did not offer', async () => {
      for (const [accept, extension, expected] of [
        ['AAAAAAAAAAAAAAAAAAAAAAAAAAA=', '', /wrong Sec-WebSocket-Accept/],
        ['', 'Sec-WebSocket-Extensions: permessage-deflate\r\n', /unrequested extension permessage-deflate/],
      ] as const) {
        const server = createTcpServer((socket) =>
          socket.once('data', (chunk) => {
            const key = /sec-websocket-key: (\S+)/i.exec(chunk.toString())?.[1] ?? '';
            socket.write(
              'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
                `Sec-WebSocket-Accept: ${accept || acceptKeyFor(key)}\r\n${extension}\r\n`,
            );
          }),
        );
        const port = await listen(server);
        cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
        await expect(dialUpstream(`ws://127.0.0.1:${port}/`)).rejects.toThrow(expected);
      }
    });

    it('times out, fails on a refused connection, and stops when aborted', async () => {
      const silent: Socket[] = [];
      const server = createTcpServer((socket) => silent.push(socket));
      const port = await listen(server);
      cleanups.push(async () => {
        for (const socket of silent) socket.destroy();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      });
      await expect(dialUpstream(`ws://127.0.0.1:${port}/`, { timeoutMs: 200 })).rejects.toThrow(
        /no WebSocket handshake within 200 ms/,
      );
      const controller = new AbortController();
      const dialing = dialUpstream(`ws://127.0.0.1:${port}/`, { signal: controller.signal });
      setTimeout(() => controller.abort(new Error('tenant went away')), 50);
      await expect(dialing).rejects.toThrow(/aborted/);

      const closedServer = createTcpServer();
      const closedPort = await listen(closedServer);
      await new Promise<void>((resolve) => closedServer.close(() => resolve()));
      await expect(dialUpstream(`ws://127.0.0.1:${closedPort}/`)).rejects.toThrow(/ECONNREFUSED/);
      await expect(dialUpstream('wss://127.0.0.1/')).rejects.toThrow(/must be ws:/);
    });
  });

  describe('acceptClient', () => {
    async function upgradeResponse(headers: Record<string, string>): Promise<{ head: string; body: string }> {
      const server = createServer();
      server.on('upgrade', (req: IncomingMessage, socket: Duplex) => {
        socket.on('error', () => undefined);
        if (acceptClient(req, socket)) socket.end();
      });
      const port = await listen(server);
      cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
      const socket = connect(port, '127.0.0.1');
      cleanups.push(() => void socket.destroy());
      const lines = Object.entries({ Host: 'x', Upgrade: 'websocket', Connection: 'Upgrade', ...headers })
        .filter(([, value]) => value !== '')
        .map(([name, value]) => `${name}: ${value}\r\n`)
        .join('');
      socket.write(`GET / HTTP/1.1\r\n${lines}\r\n`);
      let raw = '';
      for await (const chunk of socket) raw += String(chunk);
      const [head, body] = raw.split('\r\n\r\n');
      return { head, body };
    }

    it('answers 101 with the accept value and no extension, even when the client offers one', async () => {
      const key = 'dGhlIHNhbXBsZSBub25jZQ==';
      const { head } = await upgradeResponse({
        'Sec-WebSocket-Key': key,
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Extensions': 'permessage-deflate; client_max_window_bits',
      });
      expect(head).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n/);
      expect(head).toContain('Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
      expect(head.toLowerCase()).not.toContain('sec-websocket-extensions');
    });

    it('answers 426 naming version 13 to another protocol version', async () => {
      const { head } = await upgradeResponse({
        'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
        'Sec-WebSocket-Version': '8',
      });
      expect(head).toMatch(/^HTTP\/1\.1 426 Upgrade Required\r\n/);
      expect(head).toContain('Sec-WebSocket-Version: 13');
    });

    it('answers 400 to a missing or malformed key', async () => {
      for (const key of ['', 'c2hvcnQ=', 'dGhlIHNhbXBsZSBub25jZQ']) {
        const { head, body } = await upgradeResponse({ 'Sec-WebSocket-Key': key, 'Sec-WebSocket-Version': '13' });
        expect(head).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
        expect(body).toBe('invalid Sec-WebSocket-Key');
      }
    });
  });
});

// ---------------------------------------------------------------------------------------------------------------
// (b) Real Chromium

interface CdpIncoming {
  id?: number;
  method?: string;
  sessionId?: string;
  result?: Record<string, unknown>;
  error?: { code: number; message: string };
}

/** A minimal CDP client that keeps every message as it came, to compare with what the tap saw. */
class Cdp {
  private nextId = 1;
  private readonly waiting = new Map<number, (reply: CdpIncoming) => void>();
  readonly sent: { id: number; method: string; sessionId?: string }[] = [];
  readonly received: { size: number; message: CdpIncoming; raw: Buffer }[] = [];

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const raw = toBuffer(data);
      const message = JSON.parse(raw.toString()) as CdpIncoming;
      this.received.push({ size: raw.length, message, raw });
      if (message.id !== undefined) this.waiting.get(message.id)?.(message);
    });
  }

  static async open(url: string): Promise<Cdp> {
    return new Cdp(await openClient(url));
  }

  /** Sends a command; resolves with the reply, error replies included. */
  send(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<CdpIncoming> {
    const id = this.nextId;
    this.nextId += 1;
    this.sent.push(sessionId ? { id, method, sessionId } : { id, method });
    const reply = new Promise<CdpIncoming>((resolve) => this.waiting.set(id, resolve));
    this.ws.send(JSON.stringify(sessionId ? { id, method, params, sessionId } : { id, method, params }));
    return reply;
  }

  async call(method: string, params: Record<string, unknown> = {}, sessionId?: string) {
    const reply = await this.send(method, params, sessionId);
    if (reply.error) throw new Error(`${method}: ${reply.error.message}`);
    return reply.result ?? {};
  }
}

const NOISE_WIDTH = 1200;
const NOISE_HEIGHT = 900;
/** Random pixels do not compress: a PNG of this page is megabytes, as real screenshots of busy pages are. */
const DRAW_NOISE = `(() => {
  document.body.style.margin = '0';
  const canvas = document.createElement('canvas');
  canvas.width = ${NOISE_WIDTH}; canvas.height = ${NOISE_HEIGHT};
  document.body.appendChild(canvas);
  const context = canvas.getContext('2d');
  const image = context.createImageData(${NOISE_WIDTH}, ${NOISE_HEIGHT});
  let state = 12345;
  for (let i = 0; i < image.data.length; i += 1) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    image.data[i] = (i & 3) === 3 ? 255 : state >>> 24;
  }
  context.putImageData(image, 0, 0);
  return image.data.length;
})()`;

/** A new page target, attached with flatten, showing noise; returns its ids. */
async function openNoisyPage(cdp: Cdp): Promise<{ targetId: string; sessionId: string }> {
  const { targetId } = (await cdp.call('Target.createTarget', { url: 'about:blank' })) as { targetId: string };
  const { sessionId } = (await cdp.call('Target.attachToTarget', { targetId, flatten: true })) as {
    sessionId: string;
  };
  await cdp.call(
    'Emulation.setDeviceMetricsOverride',
    { width: NOISE_WIDTH, height: NOISE_HEIGHT, deviceScaleFactor: 1, mobile: false },
    sessionId,
  );
  await cdp.call('Runtime.evaluate', { expression: DRAW_NOISE, returnByValue: true }, sessionId);
  return { targetId, sessionId };
}

/** Checks a PNG end to end: every chunk CRC, IEND last, and the image data inflating to the expected size. */
function checkPng(base64: string): { width: number; height: number } {
  const png = Buffer.from(base64, 'base64');
  expect(png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).toBe(true);
  let pos = 8;
  let width = 0;
  let height = 0;
  let bytesPerPixel = 0;
  const idat: Buffer[] = [];
  let last = '';
  while (pos < png.length) {
    const length = png.readUInt32BE(pos);
    const type = png.toString('latin1', pos + 4, pos + 8);
    const data = png.subarray(pos + 8, pos + 8 + length);
    expect(crc32(png.subarray(pos + 4, pos + 8 + length)) >>> 0).toBe(png.readUInt32BE(pos + 8 + length));
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      bytesPerPixel = ({ 2: 3, 6: 4 } as Record<number, number>)[data[9]] ?? 0;
      expect(data[8]).toBe(8);
    }
    if (type === 'IDAT') idat.push(data);
    last = type;
    pos += 12 + length;
  }
  expect(last).toBe('IEND');
  expect(inflateSync(Buffer.concat(idat)).length).toBe(height * (1 + width * bytesPerPixel));
  return { width, height };
}

describe('splice in front of real Chromium', () => {
  let chromium: TestChromium | undefined;
  let proxy: TestProxy;

  beforeAll(async () => {
    chromium = await launchTestChromium('ws-splice');
    proxy = await startProxy(chromium.origin, { midFrameTimeoutMs: 5_000 });
  }, 60_000);
  afterAll(async () => {
    await proxy?.stop();
    await chromium?.stop();
  });

  const browserPath = () => new URL((chromium as TestChromium).browserUrl).pathname;

  it('carries a CDP session, and the tap matches every command and reply by id and sessionId', async () => {
    const cdp = await Cdp.open(`${proxy.url}${browserPath()}`);
    const { splice: spliced, clientMessages, upstreamMessages } = await proxy.nextSplice();
    // The client offered permessage-deflate; the proxy declined it.
    expect(cdp.ws.extensions).toBe('');

    const version = await cdp.call('Browser.getVersion');
    expect(version['protocolVersion']).toBe('1.3');
    expect(String(version['product'])).toMatch(/Chrom/);
    const { sessionId } = await openNoisyPage(cdp);
    await cdp.call('Page.enable', {}, sessionId);
    const shot = await cdp.call('Page.captureScreenshot', { format: 'png' }, sessionId);
    expect(checkPng(String(shot['data']))).toEqual({ width: NOISE_WIDTH, height: NOISE_HEIGHT });
    const unknown = await cdp.send('Foo.bar', {}, sessionId);
    expect(unknown.error?.code).toBe(-32601);
    // A command above the tap limit: reported truncated, its fields found at its two ends.
    const hugeExpression = `/*${'x'.repeat(2 * 1024 * 1024)}*/ 6 * 7`;
    const evaluated = await cdp.call(
      'Runtime.evaluate',
      { expression: hugeExpression, returnByValue: true },
      sessionId,
    );
    expect(evaluated['result']).toEqual({ type: 'number', value: 42, description: '42' });

    const closed = closeOf(cdp.ws);
    cdp.ws.close(1000, 'done');
    expect((await closed).code).toBe(1000);
    expect(await within(spliced.closed, 5000, 'splice closed')).toEqual({ by: 'client', code: 1000, reason: 'done' });

    // Every command, in order, as the tap read it.
    expect(clientMessages.map((m) => parseClientMessage(m))).toEqual(cdp.sent);
    expect(clientMessages.map((m) => m.truncated)).toEqual(cdp.sent.map((_, i) => i === cdp.sent.length - 1));
    expect(spliced.messagesFromClient).toBe(cdp.sent.length);

    // Every reply and event, in order, with the fields the tap read from head and tail only.
    expect(upstreamMessages.map((meta) => ({ size: meta.size, ...parseUpstreamMeta(meta) }))).toEqual(
      cdp.received.map(({ size, message }) => ({
        size,
        error: message.error !== undefined,
        ...(message.id !== undefined ? { id: message.id } : {}),
        ...(message.method !== undefined ? { method: message.method } : {}),
        ...(message.sessionId !== undefined ? { sessionId: message.sessionId } : {}),
      })),
    );
    expect(spliced.messagesFromUpstream).toBe(cdp.received.length);
    const shotMeta = upstreamMessages[cdp.received.findIndex((r) => r.message.result?.['data'] !== undefined)];
    expect(shotMeta.size).toBeGreaterThan(1024 * 1024);
    expect(shotMeta.head.toString()).toMatch(/^\{"id":\d+,"result":\{"data":"iVBORw0KGgo/);
    // Replies matched to commands by id carry the command's session.
    for (const command of cdp.sent) {
      const reply = upstreamMessages.map((m) => parseUpstreamMeta(m)).find((fields) => fields.id === command.id);
      expect(reply?.sessionId).toBe(command.sessionId);
    }
  });

  it('on close() during a screenshot reply, the client still gets the whole reply, then a clean 4001 close', async () => {
    const cdp = await Cdp.open(`${proxy.url}${browserPath()}`);
    const { splice: spliced, upstream } = await proxy.nextSplice();
    const { sessionId } = await openNoisyPage(cdp);
    const closed = closeOf(cdp.ws);
    const received = cdp.received.length;
    let upstreamBytesAtClose = -1;
    let bytesBeforeShot = 0;
    const onData = () => {
      if (spliced.bytesFromUpstream - bytesBeforeShot < 256 * 1024) return;
      upstream.off('data', onData);
      upstreamBytesAtClose = spliced.bytesFromUpstream - bytesBeforeShot;
      spliced.close(4001, 'connection revoked');
    };
    bytesBeforeShot = spliced.bytesFromUpstream;
    upstream.on('data', onData);
    const shot = cdp.send('Page.captureScreenshot', { format: 'png' }, sessionId);

    expect(await within(closed, 10_000, 'client close')).toEqual({
      code: 4001,
      reason: 'connection revoked',
      errors: [],
    });
    const reply = await within(shot, 1000, 'screenshot reply');
    const replySize = cdp.received.slice(received).find((r) => r.message.id === reply.id)?.size ?? 0;
    // close() came while the reply was still streaming, yet the reply arrived whole.
    expect(upstreamBytesAtClose).toBeGreaterThan(0);
    expect(upstreamBytesAtClose).toBeLessThan(replySize);
    expect(checkPng(String(reply.result?.['data']))).toEqual({ width: NOISE_WIDTH, height: NOISE_HEIGHT });
    expect(await within(spliced.closed, 5000, 'splice closed')).toEqual({
      by: 'proxy',
      code: 4001,
      reason: 'connection revoked',
    });
  });

  it('closes the client when the browser closes its socket', async () => {
    const browser = await Cdp.open(`${proxy.url}${browserPath()}`);
    const { splice: browserSplice } = await proxy.nextSplice();
    const { targetId } = (await browser.call('Target.createTarget', { url: 'about:blank' })) as { targetId: string };
    // The page's own endpoint: Chromium closes it when the page goes away.
    const page = await Cdp.open(`${proxy.url}/devtools/page/${targetId}`);
    const { splice: pageSplice } = await proxy.nextSplice();
    const sum = await page.call('Runtime.evaluate', { expression: '20 + 22', returnByValue: true });
    expect(sum['result']).toEqual({ type: 'number', value: 42, description: '42' });

    const closed = closeOf(page.ws);
    await browser.call('Target.closeTarget', { targetId });
    const seen = await within(closed, 10_000, 'page client close');
    expect(seen.errors).toEqual([]);
    const outcome = await within(pageSplice.closed, 5000, 'page splice closed');
    expect(outcome.by).toBe('upstream');
    // The client saw a close frame (the browser's, or the proxy's when the browser sent none), not a dropped link.
    expect(seen.code).not.toBe(1006);
    expect(seen.code).toBe(outcome.code ?? 1001);

    browser.ws.close();
    await within(browserSplice.closed, 5000, 'browser splice closed');
  });

  it('applies backpressure to the browser for a slow client, which still gets every byte', async () => {
    const cdp = await Cdp.open(`${proxy.url}${browserPath()}`);
    const { splice: spliced, upstream, upstreamMessages } = await proxy.nextSplice();
    const { sessionId } = await openNoisyPage(cdp);
    let upstreamPauses = 0;
    upstream.on('pause', () => (upstreamPauses += 1));

    cdp.ws.pause();
    const shots = [1, 2, 3].map(() => cdp.send('Page.captureScreenshot', { format: 'png' }, sessionId));
    await within(
      (async () => {
        while (upstreamPauses === 0) await new Promise((resolve) => setTimeout(resolve, 20));
      })(),
      20_000,
      'upstream paused',
    );
    // Read in fits and starts.
    const toggle = setInterval(() => (cdp.ws.isPaused ? cdp.ws.resume() : cdp.ws.pause()), 25);
    try {
      const replies = await within(Promise.all(shots), 30_000, 'three screenshots');
      for (const reply of replies) {
        expect(checkPng(String(reply.result?.['data']))).toEqual({ width: NOISE_WIDTH, height: NOISE_HEIGHT });
      }
    } finally {
      clearInterval(toggle);
      cdp.ws.resume();
    }
    expect(upstreamPauses).toBeGreaterThan(0);
    const closed = closeOf(cdp.ws);
    cdp.ws.close(1000);
    await closed;
    await within(spliced.closed, 5000, 'splice closed');
    // Nothing was lost or added on the way: the client read exactly the messages the tap saw leave the browser.
    expect(upstreamMessages.map((m) => m.size)).toEqual(cdp.received.map((r) => r.size));
  });
});
