import type WebSocket from 'ws';

type WebSocketClass = typeof WebSocket;
let wsModule: Promise<WebSocketClass> | undefined;

/**
 * `ws` is loaded on first use: the runtime agent imports this module on its start path, and its cold start is
 * benchmarked against bare Chromium, so nothing is loaded before the browser has been spawned.
 */
export function loadWebSocket(): Promise<WebSocketClass> {
  wsModule ??= import('ws').then((m) => (m.default ?? m) as WebSocketClass);
  return wsModule;
}

/** A CDP method that answered with an error (`-32601` method not found, `-32000` generic, …). */
export class CdpError extends Error {
  constructor(
    readonly method: string,
    readonly code: number,
    message: string,
  ) {
    super(`CDP ${method}: ${message}`);
    this.name = 'CdpError';
  }
}

/** A call that got no answer: it timed out, or the socket closed first. */
export class CdpNoReplyError extends Error {
  constructor(
    readonly method: string,
    readonly reason: 'timeout' | 'closed',
    message: string,
  ) {
    super(message);
    this.name = 'CdpNoReplyError';
  }
}

export interface CdpConnectOptions {
  /** How long the socket may take to open. Default 10 s. */
  connectTimeoutMs?: number;
  /** Default per-call timeout. Default 10 s. */
  callTimeoutMs?: number;
  /** Largest message accepted (screenshots, recordings). Default 64 MiB. */
  maxPayload?: number;
}

export interface CdpSendOptions {
  /** A flat session (Target.attachToTarget with flatten): the target the call goes to. */
  sessionId?: string;
  timeoutMs?: number;
}

/** An event's params and the flat session it came from (undefined: the browser session). */
export type CdpListener = (params: Record<string, unknown>, sessionId: string | undefined) => void;

interface Pending {
  method: string;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

interface Message {
  id?: number;
  method?: string;
  params?: Record<string, unknown>;
  result?: unknown;
  error?: { code?: number; message?: string };
  sessionId?: string;
}

/**
 * One CDP connection (browser- or page-level) used as a client: calls with timeouts, events by method, flat
 * sessions. The one rule every user relies on: once the socket is closed, by either side, every pending call is
 * rejected with CdpNoReplyError('closed'), and later calls reject at once; nothing hangs.
 */
export class CdpSession {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly listeners = new Map<string, Set<CdpListener>>();
  private readonly closeListeners = new Set<(code: number, reason: string) => void>();
  private isClosed = false;
  private closeCode = 1006;
  private closeReason = '';

  private constructor(
    private readonly socket: WebSocket,
    private readonly callTimeoutMs: number,
  ) {
    socket.on('message', (data) => this.onMessage(String(data)));
    socket.on('close', (code, reason) => {
      this.closeCode = code;
      this.closeReason = reason.toString();
      this.onClosed();
    });
    // An error is always followed by 'close'; the pending calls learn of it there.
    socket.on('error', () => undefined);
  }

  /** Opens the socket; rejects when it cannot be opened in time. */
  static async connect(url: string, options: CdpConnectOptions = {}): Promise<CdpSession> {
    const WebSocketCtor = await loadWebSocket();
    const socket = new WebSocketCtor(url, {
      perMessageDeflate: false,
      maxPayload: options.maxPayload ?? 64 * 1024 * 1024,
    });
    const connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.terminate();
        reject(new Error(`CDP connection to ${redact(url)} did not open within ${connectTimeoutMs} ms`));
      }, connectTimeoutMs);
      socket.once('open', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
    return new CdpSession(socket, options.callTimeoutMs ?? 10_000);
  }

  /**
   * A client over a socket that is already open: for callers that must hold the socket themselves (a test that
   * checks how the proxy closes it, or how it refused the upgrade).
   */
  static over(socket: WebSocket, options: Pick<CdpConnectOptions, 'callTimeoutMs'> = {}): CdpSession {
    if (socket.readyState !== 1) throw new Error('CdpSession.over needs an open socket');
    return new CdpSession(socket, options.callTimeoutMs ?? 10_000);
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Calls a method and resolves with its result; rejects with CdpError, or CdpNoReplyError on timeout or close. */
  send<T = Record<string, unknown>>(method: string, params: object = {}, options: CdpSendOptions = {}): Promise<T> {
    if (this.isClosed || this.socket.readyState !== 1) {
      return Promise.reject(new CdpNoReplyError(method, 'closed', `CDP connection closed before ${method} was sent`));
    }
    const id = this.nextId++;
    const timeoutMs = options.timeoutMs ?? this.callTimeoutMs;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new CdpNoReplyError(method, 'timeout', `CDP ${method} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { method, resolve: resolve as (value: unknown) => void, reject, timer });
      this.socket.send(
        JSON.stringify({ id, method, params, ...(options.sessionId ? { sessionId: options.sessionId } : {}) }),
      );
    });
  }

  /**
   * Calls a method whose answer the caller does not wait for (enabling domains, acknowledging frames). A failure is
   * handed to `onError`, never thrown: the caller has moved on.
   */
  post(method: string, params: object = {}, options: CdpSendOptions & { onError?: (error: Error) => void } = {}): void {
    this.send(method, params, options).catch((error: Error) => {
      if (error instanceof CdpNoReplyError && error.reason === 'closed') return;
      options.onError?.(error);
    });
  }

  /** Listens to an event by its method (`Page.frameNavigated`), from every session. Returns the unsubscribe. */
  on(method: string, listener: CdpListener): () => void {
    let set = this.listeners.get(method);
    if (!set) this.listeners.set(method, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  /** The first event of a method that matches, within the timeout. */
  waitForEvent(
    method: string,
    matches: (params: Record<string, unknown>, sessionId: string | undefined) => boolean = () => true,
    timeoutMs = this.callTimeoutMs,
  ): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        off();
        offClose();
      };
      const timer = setTimeout(() => {
        done();
        reject(new CdpNoReplyError(method, 'timeout', `no ${method} within ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this.on(method, (params, sessionId) => {
        if (!matches(params, sessionId)) return;
        done();
        resolve(params);
      });
      const offClose = this.onClose(() => {
        done();
        reject(new CdpNoReplyError(method, 'closed', `CDP connection closed while waiting for ${method}`));
      });
    });
  }

  /**
   * Runs once when the socket closes (at once when it already has), with the close code and reason the other side
   * sent (1006 and '' when it sent none, or when this side closed it). Returns the unsubscribe.
   */
  onClose(listener: (code: number, reason: string) => void): () => void {
    if (this.isClosed) {
      queueMicrotask(() => listener(this.closeCode, this.closeReason));
      return () => undefined;
    }
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }

  /**
   * Stops reading from the socket, so a consumer that cannot keep up (a recorder writing to a slow disk) holds the
   * browser's messages back in TCP instead of in memory. `resume` reads again.
   */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  /** Closes the socket; every pending call is rejected. */
  close(): void {
    if (this.isClosed) return;
    this.socket.terminate();
    this.onClosed();
  }

  private onMessage(text: string): void {
    let message: Message;
    try {
      message = JSON.parse(text) as Message;
    } catch {
      return;
    }
    if (typeof message.id === 'number') {
      const call = this.pending.get(message.id);
      if (!call) return;
      this.pending.delete(message.id);
      clearTimeout(call.timer);
      if (message.error) {
        call.reject(new CdpError(call.method, message.error.code ?? 0, message.error.message ?? 'failed'));
      } else {
        call.resolve(message.result ?? {});
      }
      return;
    }
    if (!message.method) return;
    const listeners = this.listeners.get(message.method);
    if (!listeners) return;
    for (const listener of [...listeners]) listener(message.params ?? {}, message.sessionId);
  }

  private onClosed(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    for (const [id, call] of this.pending) {
      this.pending.delete(id);
      clearTimeout(call.timer);
      call.reject(new CdpNoReplyError(call.method, 'closed', `CDP connection closed before ${call.method} answered`));
    }
    for (const listener of [...this.closeListeners]) listener(this.closeCode, this.closeReason);
    this.closeListeners.clear();
    this.listeners.clear();
  }
}

/** A CDP URL can carry a lease token in its path: errors name the host only. */
function redact(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'the browser';
  }
}

/**
 * Opens a connection, makes one call and closes it: for the single calls (Browser.getVersion at start,
 * Browser.close at stop) where a session would only be bookkeeping.
 */
export async function cdpCall<T = Record<string, unknown>>(
  url: string,
  method: string,
  params: object = {},
  timeoutMs = 10_000,
): Promise<T> {
  const session = await CdpSession.connect(url, { connectTimeoutMs: timeoutMs, callTimeoutMs: timeoutMs });
  try {
    return await session.send<T>(method, params);
  } finally {
    session.close();
  }
}
