import { randomBytes } from 'node:crypto';
import { type IncomingMessage, STATUS_CODES } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { acceptKeyFor } from './ws-frames';

export interface DialOptions {
  /** Connect plus handshake; 10 s by default. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface DialedUpstream {
  /** Paused, with noDelay set; hand it to `splice`, which resumes it. */
  socket: Socket;
  /** Bytes that came after the response headers: the first WebSocket frames. */
  head: Buffer;
}

/** A response head larger than this is not a WebSocket handshake. */
const MAX_RESPONSE_HEAD = 16 * 1024;
const HEADER_END = Buffer.from('\r\n\r\n');
const DEFAULT_DIAL_TIMEOUT_MS = 10_000;

/**
 * Opens a WebSocket to `url` (`ws://host:port/path`) and does the client side of the RFC 6455 handshake by
 * hand, so that the socket can be spliced byte for byte afterwards. No extension is offered: frames must stay
 * exactly as the two ends write them, which permessage-deflate would not allow.
 *
 * Rejects with an Error naming the URL on a non-101 answer (with its status line), a wrong
 * Sec-WebSocket-Accept, an extension the server imposed anyway, a timeout, a socket error, or an abort.
 */
export function dialUpstream(url: string, options: DialOptions = {}): Promise<DialedUpstream> {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return Promise.reject(new Error(`invalid upstream WebSocket URL: ${url}`));
  }
  if (target.protocol !== 'ws:') {
    return Promise.reject(new Error(`upstream WebSocket URL must be ws://, got ${target.protocol}//`));
  }
  const { signal } = options;
  if (signal?.aborted) return Promise.reject(new Error(`dialing ${url} aborted`, { cause: signal.reason }));

  const key = randomBytes(16).toString('base64');
  const expectedAccept = acceptKeyFor(key);
  const host = target.hostname.startsWith('[') ? target.hostname.slice(1, -1) : target.hostname;
  const port = target.port === '' ? 80 : Number(target.port);
  const request =
    `GET ${target.pathname}${target.search} HTTP/1.1\r\n` +
    `Host: ${target.host}\r\n` +
    'Upgrade: websocket\r\n' +
    'Connection: Upgrade\r\n' +
    `Sec-WebSocket-Key: ${key}\r\n` +
    'Sec-WebSocket-Version: 13\r\n\r\n';

  return new Promise<DialedUpstream>((resolve, reject) => {
    const socket = connect({ host, port });
    socket.setNoDelay(true);
    let received: Buffer = Buffer.alloc(0);
    let settled = false;

    const finish = (error: Error | null, head?: Buffer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
      if (error) {
        socket.destroy();
        reject(error);
        return;
      }
      // Frames arriving before splice attaches its listener wait in the socket, not in a listener-less stream.
      socket.pause();
      resolve({ socket, head: head ?? Buffer.alloc(0) });
    };
    const onData = (chunk: Buffer) => {
      received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
      const end = received.indexOf(HEADER_END);
      if (end === -1) {
        if (received.length > MAX_RESPONSE_HEAD) finish(new Error(`upstream ${url}: response head too large`));
        return;
      }
      const problem = checkHandshakeResponse(received.toString('latin1', 0, end), expectedAccept);
      if (problem) finish(new Error(`upstream ${url}: ${problem}`));
      else finish(null, received.subarray(end + HEADER_END.length));
    };
    const onError = (error: Error) => finish(new Error(`upstream ${url}: ${error.message}`, { cause: error }));
    const onClose = () => finish(new Error(`upstream ${url}: connection closed during the WebSocket handshake`));
    const onAbort = () => finish(new Error(`dialing ${url} aborted`, { cause: signal?.reason }));
    const timeoutMs = options.timeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS;
    const timer = setTimeout(
      () => finish(new Error(`upstream ${url}: no WebSocket handshake within ${timeoutMs} ms`)),
      timeoutMs,
    );

    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.write(request);
  });
}

/** What is wrong with a handshake response head, or undefined when it completes the upgrade. */
function checkHandshakeResponse(head: string, expectedAccept: string): string | undefined {
  const lines = head.split('\r\n');
  const statusLine = lines[0] ?? '';
  if (!/^HTTP\/1\.1 101(?: |$)/.test(statusLine)) return `expected 101 Switching Protocols, got "${statusLine}"`;
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  if (headers.get('upgrade')?.toLowerCase() !== 'websocket') return '101 without "Upgrade: websocket"';
  if (!hasToken(headers.get('connection'), 'upgrade')) return '101 without "Connection: Upgrade"';
  if (headers.get('sec-websocket-accept') !== expectedAccept) return 'wrong Sec-WebSocket-Accept';
  // RFC 6455 §4.1: an extension the client did not offer fails the connection.
  if (headers.has('sec-websocket-extensions'))
    return `unrequested extension ${headers.get('sec-websocket-extensions')}`;
  return undefined;
}

function hasToken(value: string | undefined, token: string): boolean {
  return value !== undefined && value.split(',').some((part) => part.trim().toLowerCase() === token);
}

/** A Sec-WebSocket-Key is 16 random bytes in base64 (RFC 6455 §4.1): 22 characters and `==`. */
const KEY_SHAPE = /^[A-Za-z0-9+/]{22}==$/;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/**
 * Completes a client's WebSocket upgrade: checks the request and writes the 101, declining every extension
 * (permessage-deflate offered by the client included: the RFC lets a server decline, and compressed frames
 * could not be spliced and tapped as they are) and selecting no subprotocol (CDP has none). `extraHeaders` go
 * into the 101 (names and values are checked, a bad one throws: it is the caller's bug, not the client's).
 *
 * Returns false after answering an invalid request with 400 (426 with `Sec-WebSocket-Version: 13` for another
 * protocol version) and closing the socket.
 */
export function acceptClient(req: IncomingMessage, socket: Duplex, extraHeaders: Record<string, string> = {}): boolean {
  let extra = '';
  for (const [name, value] of Object.entries(extraHeaders)) {
    if (!TOKEN.test(name) || !HEADER_VALUE.test(value)) throw new TypeError(`invalid response header ${name}`);
    extra += `${name}: ${value}\r\n`;
  }
  const key = req.headers['sec-websocket-key'];
  const version = req.headers['sec-websocket-version'];
  let problem: string | undefined;
  if (req.method !== 'GET') problem = 'WebSocket upgrade must use GET';
  else if (!hasToken(req.headers.upgrade, 'websocket')) problem = 'missing "Upgrade: websocket"';
  else if (!hasToken(req.headers.connection, 'upgrade')) problem = 'missing "Connection: Upgrade"';
  else if (typeof key !== 'string' || !KEY_SHAPE.test(key)) problem = 'invalid Sec-WebSocket-Key';
  if (problem === undefined && version !== '13') {
    writeAndClose(socket, 426, 'text/plain', 'Sec-WebSocket-Version 13 required', 'Sec-WebSocket-Version: 13\r\n');
    return false;
  }
  if (problem !== undefined) {
    writeAndClose(socket, 400, 'text/plain', problem);
    return false;
  }
  if (socket.destroyed || !socket.writable) return false;
  socket.write(
    'HTTP/1.1 101 Switching Protocols\r\n' +
      'Upgrade: websocket\r\n' +
      'Connection: Upgrade\r\n' +
      `Sec-WebSocket-Accept: ${acceptKeyFor(key as string)}\r\n` +
      extra +
      '\r\n',
  );
  return true;
}

/**
 * Refuses an upgrade before it happens (401, 404, 503 …) with our JSON error envelope
 * `{"error":{"code":…,"message":…}}`, then closes the socket once the answer is written.
 */
export function rejectUpgrade(
  socket: Duplex,
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): void {
  let extra = '';
  for (const [name, value] of Object.entries(headers)) {
    if (!TOKEN.test(name) || !HEADER_VALUE.test(value)) throw new TypeError(`invalid response header ${name}`);
    extra += `${name}: ${value}\r\n`;
  }
  writeAndClose(socket, status, 'application/json', JSON.stringify({ error: { code, message } }), extra);
}

function writeAndClose(socket: Duplex, status: number, contentType: string, body: string, extra = ''): void {
  if (socket.destroyed || !socket.writable) {
    socket.destroy();
    return;
  }
  // Destroy only once the answer is flushed: destroying right away could drop it before it leaves.
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
      'Connection: close\r\n' +
      `Content-Type: ${contentType}\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      extra +
      '\r\n' +
      body,
  );
}
