import {
  createServer,
  type IncomingMessage,
  request as httpRequest,
  type Server,
  type ServerResponse,
} from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';

/** One request a test proxy was asked to carry, whether or not it carried it. */
export interface ProxiedRequest {
  /** `CONNECT` for a tunnel (https), else the method of a plain-HTTP forward. */
  method: string;
  /** `host:port` for a tunnel, the absolute URL for a forward. */
  target: string;
  /** The user name of the Proxy-Authorization header, '' when there was none. */
  username: string;
  /** The password it carried: only to compare in a test, never to print. */
  password: string;
  /** Whether the proxy carried it (credentials matched, or none are required). */
  carried: boolean;
}

export interface ForwardProxy {
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** Every request seen, in order: carried ones and the ones answered 407. */
  readonly requests: ProxiedRequest[];
  /** Requests carried to their target. */
  carried(): ProxiedRequest[];
  /** Bytes carried from targets back to clients (responses and tunnelled data). */
  readonly bytesFromTargets: number;
  close(): Promise<void>;
}

export interface ForwardProxyOptions {
  /** Basic credentials the proxy requires (407 with Proxy-Authenticate otherwise); absent: it requires none. */
  credentials?: { username: string; password: string };
  host?: string;
}

/**
 * A real HTTP forward proxy on loopback, for tests: absolute-URI requests are forwarded and CONNECT is tunnelled, as
 * squid or any corporate proxy does, with optional Basic authentication answered by 407 + Proxy-Authenticate. It
 * records what it was asked to carry, so a test can show the traffic went through it and with which credentials.
 */
export async function startForwardProxy(options: ForwardProxyOptions = {}): Promise<ForwardProxy> {
  const requests: ProxiedRequest[] = [];
  const sockets = new Set<Socket>();
  let bytesFromTargets = 0;

  const check = (method: string, target: string, header: string | undefined): ProxiedRequest => {
    const { username, password } = parseBasic(header);
    const required = options.credentials;
    const carried = !required || (username === required.username && password === required.password);
    const seen = { method, target, username, password, carried };
    requests.push(seen);
    return seen;
  };

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const seen = check(req.method ?? 'GET', req.url ?? '', req.headers['proxy-authorization']);
    if (!seen.carried) return refuse(res);
    let target: URL;
    try {
      target = new URL(req.url ?? '');
    } catch {
      res.writeHead(400).end('a forward proxy takes absolute URLs');
      return;
    }
    const headers = { ...req.headers };
    delete headers['proxy-authorization'];
    delete headers['proxy-connection'];
    const upstream = httpRequest(
      {
        host: target.hostname,
        port: target.port || 80,
        method: req.method,
        path: `${target.pathname}${target.search}`,
        headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.on('data', (chunk: Buffer) => (bytesFromTargets += chunk.length));
        answer.on('error', () => res.destroy());
        answer.pipe(res);
      },
    );
    upstream.on('error', (error) => {
      if (!res.headersSent) res.writeHead(502);
      res.end(`upstream failed: ${error.message}`);
    });
    // A browser killed mid-request resets its side: dropped here, never an unhandled error of the test process.
    req.on('error', () => upstream.destroy());
    req.pipe(upstream);
  });

  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    // A tunnel's socket is ours from here: a browser killed mid-tunnel resets it, which must not end this process.
    client.on('error', () => client.destroy());
    const seen = check('CONNECT', req.url ?? '', req.headers['proxy-authorization']);
    if (!seen.carried) {
      client.end(
        'HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="test-proxy"\r\n' +
          'Content-Length: 0\r\n\r\n',
      );
      return;
    }
    const [host, port] = splitHostPort(req.url ?? '');
    const upstream = connect(port, host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.on('data', (chunk: Buffer) => (bytesFromTargets += chunk.length));
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    upstream.once('close', () => sockets.delete(upstream));
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  await new Promise<void>((resolve) => server.listen(0, options.host ?? '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}`,
    port,
    requests,
    carried: () => requests.filter((r) => r.carried),
    get bytesFromTargets() {
      return bytesFromTargets;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

function refuse(res: ServerResponse): void {
  res.writeHead(407, { 'proxy-authenticate': 'Basic realm="test-proxy"', 'content-type': 'text/plain' });
  res.end('proxy authentication required');
}

function parseBasic(header: string | undefined): { username: string; password: string } {
  const match = /^Basic\s+(\S+)$/i.exec(header ?? '');
  if (!match) return { username: '', password: '' };
  const decoded = Buffer.from(match[1] as string, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0
    ? { username: decoded, password: '' }
    : { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function splitHostPort(authority: string): [string, number] {
  const colon = authority.lastIndexOf(':');
  const host = authority.slice(0, colon).replace(/^\[|\]$/g, '');
  return [host, Number(authority.slice(colon + 1))];
}
