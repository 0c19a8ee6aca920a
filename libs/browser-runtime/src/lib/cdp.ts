import type WebSocket from 'ws';

type WebSocketClass = typeof WebSocket;
let wsModule: Promise<WebSocketClass> | undefined;

/** `ws` is loaded on first use, after Chromium has been spawned, so it never delays the launch. */
export function loadWebSocket(): Promise<WebSocketClass> {
  wsModule ??= import('ws').then((m) => (m.default ?? m) as WebSocketClass);
  return wsModule;
}

/**
 * Opens a browser-level CDP connection, sends one command, and resolves with its result. The agent needs only
 * single calls (Browser.getVersion at start, Browser.close at stop), so no session bookkeeping.
 */
export async function cdpCall<T>(url: string, method: string, params: object = {}, timeoutMs = 10_000): Promise<T> {
  const WebSocketCtor = await loadWebSocket();
  return new Promise<T>((resolve, reject) => {
    const socket = new WebSocketCtor(url, { perMessageDeflate: false });
    let done = false;
    const finish = (error: Error | null, value?: T) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.removeAllListeners();
      socket.on('error', () => undefined);
      socket.terminate();
      if (error) reject(error);
      else resolve(value as T);
    };
    const timer = setTimeout(() => finish(new Error(`CDP ${method} timed out after ${timeoutMs} ms`)), timeoutMs);
    socket.once('open', () => socket.send(JSON.stringify({ id: 1, method, params })));
    socket.on('message', (data) => {
      const message = JSON.parse(String(data)) as { id?: number; result?: T; error?: { message: string } };
      if (message.id !== 1) return;
      if (message.error) finish(new Error(`CDP ${method}: ${message.error.message}`));
      else finish(null, message.result as T);
    });
    socket.once('error', (error) => finish(error));
    socket.once('close', () => finish(new Error(`CDP connection closed before ${method} answered`)));
  });
}
