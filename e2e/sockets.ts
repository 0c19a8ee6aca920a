import WebSocket from 'ws';

/** The HTTP status a WebSocket upgrade to `url` is answered with: 101 when it opened (then closed again). */
export function upgradeStatus(url: string): Promise<number> {
  const socket = new WebSocket(url, { perMessageDeflate: false });
  return new Promise<number>((resolve) => {
    socket.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    socket.once('open', () => resolve(101));
    socket.once('error', () => resolve(0));
  }).finally(() => socket.terminate());
}
