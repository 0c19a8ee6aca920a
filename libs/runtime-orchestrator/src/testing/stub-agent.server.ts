import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { AGENT_PATHS, AgentHealth } from '@bctrl/contracts';

export interface StubAgentRequest {
  method: string;
  path: string;
  authorized: boolean;
  body: unknown;
}

/**
 * A STUB browser-runtime agent for driver tests that must not start Chromium (the Kubernetes driver against the
 * fake API server): it answers the agent HTTP API, enforces the bearer token and reports ready with a made-up
 * cdpUrl while `ready` is true (503 before, like the real agent while Chromium starts).
 */
export class StubAgentServer {
  readonly requests: StubAgentRequest[] = [];
  runtimeId = '';
  /** Unset: any non-empty token is accepted (one stub serves many pods); set: only this one. */
  expectedToken: string | undefined;
  ready = true;
  private readonly startedAt = Date.now();

  private constructor(private readonly server: Server) {}

  static async start(): Promise<StubAgentServer> {
    const server = createServer();
    const stub = new StubAgentServer(server);
    server.on('request', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const header = req.headers.authorization ?? '';
        const token = header.startsWith('Bearer ') ? header.slice('Bearer '.length) : '';
        const authorized = token !== '' && (stub.expectedToken === undefined || token === stub.expectedToken);
        const path = (req.url ?? '/').split('?')[0];
        let body: unknown = undefined;
        try {
          body = raw ? JSON.parse(raw) : undefined;
        } catch {
          body = raw;
        }
        stub.requests.push({ method: req.method ?? 'GET', path, authorized, body });
        const send = (code: number, payload?: unknown) => {
          res.writeHead(code, { 'Content-Type': 'application/json' });
          res.end(payload === undefined ? '' : JSON.stringify(payload));
        };
        if (!authorized) return send(401, { error: 'unauthorized' });
        if (req.method === 'GET' && path === AGENT_PATHS.health) {
          const ready = stub.ready;
          const health: AgentHealth = {
            status: ready ? 'ready' : 'starting',
            runtimeId: stub.runtimeId,
            browser: ready ? { pid: 4242, product: 'Chrome/999.0.0.0', cdpUrl: stub.cdpUrl } : null,
            startedAt: new Date(stub.startedAt).toISOString(),
            readyAt: ready ? new Date().toISOString() : null,
          };
          return send(ready ? 200 : 503, health);
        }
        if (req.method === 'POST' && path === AGENT_PATHS.shutdown) return send(202, {});
        if (req.method === 'POST' && path === AGENT_PATHS.assign) {
          const runtimeId = (body as { runtimeId?: unknown } | undefined)?.runtimeId;
          if (typeof runtimeId !== 'string' || runtimeId === '') return send(400, { error: 'runtimeId required' });
          stub.runtimeId = runtimeId;
          return send(200, {});
        }
        send(404, { error: 'not found' });
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return stub;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  get cdpUrl(): string {
    return `ws://127.0.0.1:${(this.server.address() as AddressInfo).port}/devtools/browser/stub`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
