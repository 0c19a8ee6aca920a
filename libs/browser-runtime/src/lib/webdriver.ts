import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { type IncomingHttpHeaders, type IncomingMessage, request, type ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { ENV, WEBDRIVER_CONNECTION_HEADER } from './agent-env';

const START_TIMEOUT_MS = 10_000;
const NEW_SESSION_LIMIT = 1024 * 1024;
const RELEASE_LIMIT = 64 * 1024;
const STARTED = /ChromeDriver was started successfully on port (\d+)/;
/**
 * util-linux (Essential in Debian, so in every runtime image): it makes the kernel SIGKILL chromedriver when the agent
 * dies, even by SIGKILL, which no exit handler of ours sees.
 */
const SETPRIV = '/usr/bin/setpriv';

export interface WebDriverBridgeOptions {
  chromedriverPath: string;
  /** `127.0.0.1:<port>` of the runtime's Chromium DevTools endpoint; null until the browser is ready or once it stops. */
  debuggerAddress: () => string | null;
}

/** A W3C WebDriver error answer; `error` is one of the spec's error codes. */
class WebDriverError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * WebDriver connections to the runtime's existing browser (AGENT_PATHS.webdriver): requests are relayed to a
 * chromedriver started on first use, whose sessions always attach to this agent's Chromium through `debuggerAddress`.
 * A session belongs to the connection it was created under, so a revoked connection's sessions can be deleted.
 */
export class WebDriverBridge {
  private child: ChildProcess | null = null;
  /** The port of a chromedriver starting or running; null when there is none (never started, failed or exited). */
  private driver: Promise<number> | null = null;
  /** The port of a chromedriver that is up: a release deletes through it, and never starts one. */
  private port: number | null = null;
  /** sessionId → the connection it was created under ('' when none was named). */
  private readonly sessions = new Map<string, string>();
  private closed = false;

  constructor(private readonly options: WebDriverBridgeOptions) {}

  /** Handles a request under the WebDriver prefix; `rest` is the path after the prefix, with the query string. */
  async relay(req: IncomingMessage, res: ServerResponse, rest: string): Promise<void> {
    const path = rest.split('?')[0];
    try {
      // chromedriver's own extras outside W3C: /sessions lists every connection's sessions with the browser's internal
      // address, /shutdown would end the bridge for every connection. Only the agent decides chromedriver's life.
      if (path !== '/status' && path !== '/session' && !path.startsWith('/session/')) {
        throw new WebDriverError(404, 'unknown command', `unknown command: ${req.method} ${path}`);
      }
      const address = this.options.debuggerAddress();
      if (address === null || this.closed) {
        throw new WebDriverError(503, 'session not created', "the runtime's browser is not ready");
      }
      if (req.method === 'POST' && (path === '/session' || path === '/session/')) {
        await this.newSession(req, res, address);
        return;
      }
      const session = /^\/session\/([^/]+)/.exec(path)?.[1];
      // A session is its connection's: another connection to this runtime cannot drive or end it, even knowing its
      // id. Unknown ids get chromedriver's own answer for them, without starting it.
      if (
        session !== undefined &&
        this.sessions.get(session) !== headerValue(req.headers, WEBDRIVER_CONNECTION_HEADER)
      ) {
        throw new WebDriverError(404, 'invalid session id', 'invalid session id');
      }
      const port = await this.start();
      await this.forward(req, res, port, rest);
      const deleted = req.method === 'DELETE' ? /^\/session\/([^/]+)\/?$/.exec(path) : null;
      if (deleted) this.sessions.delete(deleted[1]);
    } catch (error) {
      // Never thrown on: a rejection here would reach the agent's crash handler.
      const known =
        error instanceof WebDriverError ? error : new WebDriverError(500, 'unknown error', 'the relay failed');
      if (res.headersSent) res.destroy();
      else sendJson(res, known.status, { value: { error: known.error, message: known.message, stacktrace: '' } });
    }
  }

  /** POST AGENT_PATHS.webdriverRelease {connectionId}: deletes the sessions created under that connection. */
  async release(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let connectionId: unknown;
    try {
      const body = await readBody(req, RELEASE_LIMIT);
      if (body !== null) connectionId = (JSON.parse(body.toString('utf8')) as { connectionId?: unknown })?.connectionId;
    } catch {
      // Not JSON, or the request broke off: answered as a missing connectionId.
    }
    if (typeof connectionId !== 'string' || connectionId.length === 0 || connectionId.length > 200) {
      sendJson(res, 400, { error: 'connectionId must be a string of 1 to 200 characters' });
      return;
    }
    const ids = [...this.sessions].filter(([, owner]) => owner === connectionId).map(([id]) => id);
    const port = this.port;
    let deleted = 0;
    // Sessions are forgotten whenever chromedriver ends, so there are none to delete without a running one.
    if (port !== null && ids.length > 0) {
      const statuses = await Promise.all(
        ids.map((id) =>
          exchange(port, 'DELETE', `/session/${id}`).then(
            ({ status }) => status,
            () => 0,
          ),
        ),
      );
      for (const id of ids) this.sessions.delete(id);
      deleted = statuses.filter((status) => status === 200).length;
    }
    sendJson(res, 200, { deleted });
  }

  /** Ends chromedriver for good (the agent is stopping). Synchronous: it runs in process.on('exit') too. */
  close(): void {
    this.closed = true;
    this.child?.kill('SIGKILL');
  }

  /**
   * New Session, rewritten so that it attaches to the runtime's browser: whatever the client asked for in
   * `goog:chromeOptions` (args, binary, extensions) could only launch another browser, so it is replaced.
   */
  private async newSession(req: IncomingMessage, res: ServerResponse, address: string): Promise<void> {
    const body = await readBody(req, NEW_SESSION_LIMIT);
    if (body === null) throw new WebDriverError(413, 'invalid argument', 'the New Session body is over 1 MiB');
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      throw new WebDriverError(400, 'invalid argument', 'the New Session body is not JSON');
    }
    const attached = JSON.stringify(attachTo(parsed, address));
    const port = await this.start();
    const answer = await exchange(port, 'POST', '/session', attached).catch(() => {
      throw new WebDriverError(503, 'session not created', 'chromedriver did not answer');
    });
    // Also scrubs the address from chromedriver's error messages (e.g. "cannot connect to chrome at ...").
    const text = answer.body.split(address).join('<runtime browser>');
    let json: { value?: { sessionId?: unknown; capabilities?: Record<string, unknown> } } | undefined;
    try {
      json = JSON.parse(text) as typeof json;
    } catch {
      json = undefined;
    }
    const sessionId = json?.value?.sessionId;
    if (answer.status !== 200 || typeof sessionId !== 'string' || !json) {
      res.writeHead(answer.status, { 'content-type': answer.contentType ?? 'application/json; charset=utf-8' });
      res.end(text);
      return;
    }
    const chromeOptions = json.value?.capabilities?.['goog:chromeOptions'] as Record<string, unknown> | undefined;
    if (chromeOptions) delete chromeOptions['debuggerAddress'];
    this.sessions.set(sessionId, headerValue(req.headers, WEBDRIVER_CONNECTION_HEADER));
    sendJson(res, 200, json);
  }

  /** chromedriver's port; starts it on first use, once however many requests wait for it. */
  private start(): Promise<number> {
    this.driver ??= this.spawnDriver().catch((error: unknown) => {
      // A failed start is not remembered: a later request tries again (chromedriver installed since, or a fluke).
      this.driver = null;
      throw error;
    });
    return this.driver;
  }

  private spawnDriver(): Promise<number> {
    const path = this.options.chromedriverPath;
    try {
      accessSync(path, constants.X_OK);
    } catch {
      return Promise.reject(
        new WebDriverError(503, 'session not created', `chromedriver is not installed in this runtime (${path})`),
      );
    }
    const args = ['--port=0', '--log-level=SEVERE'];
    const env = { ...process.env };
    delete env[ENV.token];
    // Not detached: it stays in the agent's process group and dies with it.
    const child = existsSync(SETPRIV)
      ? spawn(SETPRIV, ['--pdeathsig', 'SIGKILL', '--', path, ...args], { env, stdio: ['ignore', 'pipe', 'ignore'] })
      : spawn(path, args, { env, stdio: ['ignore', 'pipe', 'ignore'] });
    this.child = child;
    return new Promise<number>((resolve, reject) => {
      let output = '';
      let settled = false;
      const settle = (error: WebDriverError | null, port?: number) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (error) {
          child.kill('SIGKILL');
          reject(error);
        } else {
          this.port = port as number;
          resolve(port as number);
        }
      };
      const timer = setTimeout(
        () => settle(new WebDriverError(503, 'session not created', 'chromedriver did not start in time')),
        START_TIMEOUT_MS,
      );
      // stdout keeps being read (and dropped) after the port line, or chromedriver would block on a full pipe.
      child.stdout?.on('data', (chunk: Buffer) => {
        if (settled) return;
        output = (output + chunk.toString('utf8')).slice(-4096);
        const match = STARTED.exec(output);
        if (match) settle(null, Number(match[1]));
      });
      const ended = (detail: string) => {
        if (this.child === child) {
          this.child = null;
          this.driver = null;
          this.port = null;
          this.sessions.clear();
        }
        settle(new WebDriverError(503, 'session not created', `chromedriver ${detail}`));
      };
      child.once('error', (error) => ended(`could not start: ${error.message}`));
      child.once('exit', (code, signal) => ended(`exited (code ${code}, signal ${signal})`));
    });
  }

  /** Streams the request to chromedriver and its answer back: screenshots are megabytes of base64 JSON. */
  private forward(req: IncomingMessage, res: ServerResponse, port: number, path: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const upstream = request(
        { host: '127.0.0.1', port, method: req.method, path, headers: relayedHeaders(req.headers, port) },
        (answer) => {
          const headers: Record<string, string> = {};
          if (answer.headers['content-type']) headers['content-type'] = answer.headers['content-type'];
          if (answer.headers['content-length']) headers['content-length'] = answer.headers['content-length'];
          res.writeHead(answer.statusCode ?? 502, headers);
          // A client gone mid-answer is not the agent's error.
          pipeline(answer, res).then(resolve, () => resolve());
        },
      );
      upstream.once('error', () => reject(new WebDriverError(503, 'unknown error', 'chromedriver did not answer')));
      res.once('close', () => upstream.destroy());
      req.pipe(upstream);
    });
  }
}

/**
 * The New Session body with `goog:chromeOptions` set to attach to `address` and nothing else. Legacy JSON Wire
 * capabilities go (chromedriver would read `desiredCapabilities` when `capabilities` is absent), and so does
 * `webSocketUrl`: BiDi would open a mapper tab in the tenant's browser and hand out chromedriver's own address for a
 * WebSocket this relay does not carry.
 */
function attachTo(body: unknown, address: string): Record<string, unknown> {
  const invalid = (message: string) => new WebDriverError(400, 'invalid argument', message);
  if (!isObject(body)) throw invalid('the New Session body must be a JSON object');
  const { desiredCapabilities: _desired, requiredCapabilities: _required, ...rest } = body;
  const capabilities = body['capabilities'] ?? {};
  if (!isObject(capabilities)) throw invalid('capabilities must be a JSON object');
  const alwaysMatch = capabilities['alwaysMatch'] ?? {};
  if (!isObject(alwaysMatch)) throw invalid('capabilities.alwaysMatch must be a JSON object');
  const firstMatch = capabilities['firstMatch'];
  if (firstMatch !== undefined && !(Array.isArray(firstMatch) && firstMatch.every(isObject))) {
    throw invalid('capabilities.firstMatch must be a list of JSON objects');
  }
  const strip = ({ 'goog:chromeOptions': _options, webSocketUrl: _bidi, ...kept }: Record<string, unknown>) => kept;
  return {
    ...rest,
    capabilities: {
      ...capabilities,
      alwaysMatch: { ...strip(alwaysMatch), 'goog:chromeOptions': { debuggerAddress: address } },
      ...(firstMatch === undefined ? {} : { firstMatch: firstMatch.map(strip) }),
    },
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * What of the client's headers chromedriver gets: never the agent's Authorization, and a local Host with no Origin,
 * since chromedriver refuses requests that look like they come from elsewhere.
 */
function relayedHeaders(headers: IncomingHttpHeaders, port: number): Record<string, string> {
  const relayed: Record<string, string> = { host: `127.0.0.1:${port}` };
  for (const name of ['content-type', 'content-length', 'accept', 'transfer-encoding']) {
    const value = headers[name];
    if (typeof value === 'string') relayed[name] = value;
  }
  return relayed;
}

function headerValue(headers: IncomingHttpHeaders, name: string): string {
  const value = headers[name];
  return (Array.isArray(value) ? value[0] : value) ?? '';
}

/** One whole request to chromedriver, for the answers the bridge reads (New Session) or only counts (release). */
function exchange(
  port: number,
  method: string,
  path: string,
  body?: string,
): Promise<{ status: number; contentType: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { host: `127.0.0.1:${port}` };
    if (body !== undefined) {
      headers['content-type'] = 'application/json; charset=utf-8';
      headers['content-length'] = Buffer.byteLength(body);
    }
    const upstream = request({ host: '127.0.0.1', port, method, path, headers }, (answer) => {
      const chunks: Buffer[] = [];
      answer.on('data', (chunk: Buffer) => chunks.push(chunk));
      answer.once('end', () =>
        resolve({
          status: answer.statusCode ?? 502,
          contentType: answer.headers['content-type'],
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
      answer.once('error', reject);
    });
    upstream.once('error', reject);
    upstream.end(body);
  });
}

/**
 * The request's body, or null when it is over `limit`. The rest of an oversized body is read and dropped rather than
 * the connection cut, so the client gets to read the answer.
 */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    req.once('end', () => resolve(size > limit ? null : Buffer.concat(chunks)));
    req.once('error', reject);
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}
