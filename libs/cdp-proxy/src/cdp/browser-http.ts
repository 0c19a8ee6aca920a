import { type IncomingMessage, request as httpRequest, type ServerResponse } from 'node:http';

/** Where the client reached us, as it sees it (an ingress or the gateway says so in X-Forwarded-*). */
export function publicBase(req: IncomingMessage): { ws: string } {
  const forwardedProto = headerValue(req.headers['x-forwarded-proto']);
  const host = headerValue(req.headers['x-forwarded-host']) ?? req.headers.host ?? 'localhost';
  const secure = forwardedProto ? forwardedProto === 'https' : 'encrypted' in req.socket && !!req.socket.encrypted;
  return { ws: `${secure ? 'wss' : 'ws'}://${host}` };
}

function headerValue(value: string | string[] | undefined): string | undefined {
  const first = Array.isArray(value) ? value[0] : value;
  return first?.split(',')[0]?.trim() || undefined;
}

/**
 * Points every WebSocket URL the browser gave at this connection instead: the browser-level one at the
 * connection itself, target ones at `<connection>/devtools/<kind>/<id>`; DevTools front-end links go (they
 * would lead to the browser's own address).
 */
export function rewrite(value: unknown, browserHost: string, proxied: string, browserWsUrl: string): unknown {
  if (Array.isArray(value)) return value.map((item) => rewrite(item, browserHost, proxied, browserWsUrl));
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value as Record<string, unknown>)) {
    if (key === 'webSocketDebuggerUrl' && typeof field === 'string') {
      out[key] = field === browserWsUrl ? proxied : field.replace(`ws://${browserHost}`, proxied);
    } else if (key === 'devtoolsFrontendUrl' || key === 'devtoolsFrontendUrlCompat') {
      continue;
    } else out[key] = rewrite(field, browserHost, proxied, browserWsUrl);
  }
  return out;
}

/** The query string of a request URL, with its `?`, or ''. */
export function queryOf(url: string | undefined): string {
  const at = url?.indexOf('?') ?? -1;
  return at >= 0 ? (url as string).slice(at) : '';
}

/** One request to the browser's own HTTP endpoint (`host` is its `127.0.0.1:<port>`); the answer as a stream. */
export function browserRequest(host: string, method: string, path: string): Promise<IncomingMessage> {
  const [hostname, port] = host.split(':');
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: hostname, port: Number(port), method, path, timeout: 10_000 }, resolve);
    req.on('timeout', () => req.destroy(new Error(`browser ${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** The same, read whole (discovery answers are small JSON documents). */
export async function browserHttp(
  host: string,
  method: string,
  path: string,
): Promise<{ status: number; body: string }> {
  const res = await browserRequest(host, method, path);
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return { status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') };
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

export function sendError(res: ServerResponse, status: number, code: string, message: string): void {
  sendJson(res, status, { error: { code, message } });
}
