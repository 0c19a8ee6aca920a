import { type IncomingHttpHeaders, type IncomingMessage, request as httpRequest, type ServerResponse } from 'node:http';
import { Logger } from '@nestjs/common';
import { AGENT_PATHS, AGENT_WEBDRIVER_CONNECTION, RunEvent } from '@bctrl/contracts';
import { BoundedLabels, platformInstruments } from '@bctrl/telemetry';
import type { ConnectionEvents } from '../cdp/connection-events';
import type { ConnectionLease, EndReason, LeaseStore } from '../leases/lease-store';
import type { CommandPublisher } from '../recording/command-recorder';

export const WEBDRIVER_PATH_PREFIX = '/v1/webdriver/';
/** `/v1/webdriver/<token>` then the W3C WebDriver path (`/session`, `/session/<id>/url`, `/status`, …). */
const ROUTE = /^\/v1\/webdriver\/([A-Za-z0-9_-]{16,128})(\/[^?#]*)?(\?[^#]*)?$/;
/** Navigations wait for page loads (300 s by default in WebDriver) and scripts for their own timeouts. */
const COMMAND_TIMEOUT_MS = 330_000;
/** Enough of an error answer to read its W3C `error` code; error bodies are small JSON documents. */
const ERROR_HEAD_BYTES = 4096;
/** New Session answers (the capabilities) are a few kB; read whole to learn the session id. */
const NEW_SESSION_MAX_BYTES = 256 * 1024;
const W3C_ERROR = /"error"\s*:\s*"([a-z ]{1,64})"/;
/** Path segments that are ids: the command record names the command, not the instance. */
const ID_SEGMENTS: Record<string, string> = {
  session: '{sessionId}',
  element: '{elementId}',
  shadow: '{shadowId}',
  window: '{windowHandle}',
  cookie: '{name}',
};
/** Segments after which the next one is a word of the command (`element/active`), not an id. */
const WORDS_AFTER: Record<string, Set<string>> = {
  element: new Set(['active']),
  window: new Set(['new', 'rect', 'handles', 'maximize', 'minimize', 'fullscreen']),
};

/**
 * The W3C protocol has about 60 commands and chromedriver adds some of its own; a client may send any path, and each
 * distinct command would be a series of its own in the metrics. Past this many the command reads `other`.
 */
const MAX_METRIC_COMMANDS = 256;

/** The request headers chromedriver needs; nothing else of the client's (cookies, auth) goes past the proxy. */
const PASSED_HEADERS = ['content-type', 'content-length', 'accept', 'transfer-encoding'] as const;

export interface WebDriverRelayOptions {
  store: LeaseStore;
  publisher: CommandPublisher;
  events: ConnectionEvents;
  /** Reports activity on runtimes (a new session): their idle stop waits. */
  touch(runtimeIds: string[]): void;
}

/** The WebDriver sessions this replica saw created under one connection, until they end or the connection does. */
interface TrackedConnection {
  lease: ConnectionLease;
  sessions: Set<string>;
  expiry: NodeJS.Timeout;
}

/**
 * `webdriver` connections: W3C WebDriver over HTTP under `/v1/webdriver/<token>`, relayed to the runtime agent's
 * chromedriver, which is attached to the runtime's own browser. Every request is checked against the lease, so a
 * revoked or expired connection's next command is refused; the sessions it opened are then deleted on the agent
 * (the browser and its pages stay: they are the runtime's). Each command becomes a command record with the route
 * as its method (`POST /session/{sessionId}/url`), the WebDriver session as its session, and the W3C error code
 * when it failed. Bodies are streamed, never parsed, except New Session's answer (for its session id) and the head
 * of error answers (for their code).
 */
export class WebDriverRelay {
  private readonly logger = new Logger('WebDriverRelay');
  private readonly tracked = new Map<string, TrackedConnection>();
  private readonly commandLabels = new BoundedLabels(MAX_METRIC_COMMANDS, /^[A-Z]{1,16} \/[\x21-\x7e]{0,200}$/);

  constructor(private readonly options: WebDriverRelayOptions) {}

  handles(url: string | undefined): boolean {
    return !!url?.startsWith(WEBDRIVER_PATH_PREFIX);
  }

  /** Runtimes with WebDriver sessions open through this replica: kept from idling out like open sockets. */
  runtimeIds(): string[] {
    return [...new Set([...this.tracked.values()].map((t) => t.lease.runtimeId))];
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const route = ROUTE.exec(req.url ?? '');
    const path = route?.[2] && route[2] !== '/' ? route[2].replace(/\/+$/, '') : '';
    const newSession = req.method === 'POST' && path === '/session';
    const refusalCode = newSession ? 'session not created' : path.startsWith('/session/') ? 'invalid session id' : '';
    if (!route || !path) {
      sendError(res, 404, 'not_found', 'unknown command', 'No WebDriver command at this path.');
      return;
    }
    const lease = await this.options.store.byToken(route[1] as string);
    if (!lease || lease.type !== 'webdriver') {
      sendError(
        res,
        401,
        'unauthenticated',
        refusalCode || 'unknown error',
        'The connection token is unknown, expired or revoked.',
      );
      return;
    }
    if (!lease.webdriver) {
      sendError(res, 503, 'unavailable', 'unknown error', 'The runtime has no WebDriver relay.');
      return;
    }
    const startedAt = Date.now();
    const startedNs = process.hrtime.bigint();
    const headers: Record<string, string> = {
      authorization: `Bearer ${lease.webdriver.token}`,
      [AGENT_WEBDRIVER_CONNECTION]: lease.id,
    };
    for (const name of PASSED_HEADERS) {
      const value = req.headers[name];
      if (typeof value === 'string') headers[name] = value;
    }
    let requestBytes = 0;
    req.on('data', (chunk: Buffer) => (requestBytes += chunk.length));
    const target = new URL(`${lease.webdriver.url}${path}${route[3] ?? ''}`);
    const answer = await new Promise<IncomingMessage | null>((resolve) => {
      const upstream = httpRequest(target, { method: req.method, headers, timeout: COMMAND_TIMEOUT_MS }, (response) =>
        resolve(response),
      );
      upstream.on('timeout', () => upstream.destroy(new Error('WebDriver command timed out')));
      upstream.on('error', () => resolve(null));
      req.pipe(upstream);
    });
    // Bounded: the path is the client's, and records are stored.
    const sessionId = (/^\/session\/([^/]+)/.exec(path)?.[1] ?? '').slice(0, 128);
    const record = (status: number, responseBytes: number, errorCode: string) =>
      this.record(lease, `${req.method} ${commandOf(path)}`.slice(0, 256), sessionId, startedAt, startedNs, {
        ok: status < 400,
        errorCode,
        requestBytes,
        responseBytes,
      });
    if (!answer) {
      record(503, 0, 'unavailable');
      sendError(res, 503, 'unavailable', 'unknown error', "The runtime's WebDriver relay is not reachable.");
      return;
    }
    const status = answer.statusCode ?? 502;
    if (newSession || status >= 400) {
      // Small answers the relay needs to read: read whole (bounded) and pass the same bytes on.
      const body = await readBounded(answer, newSession ? NEW_SESSION_MAX_BYTES : ERROR_HEAD_BYTES);
      const errorCode = status >= 400 ? (W3C_ERROR.exec(body.head.toString('utf8'))?.[1] ?? String(status)) : '';
      res.writeHead(status, responseHeaders(answer.headers, body.complete ? body.head.length : undefined));
      res.write(body.head);
      let rest = 0;
      if (!body.complete) {
        // Both listeners at once, so the paused stream loses nothing when piping resumes it.
        answer.on('data', (chunk: Buffer) => (rest += chunk.length));
        answer.pipe(res);
        await finished(answer);
      } else res.end();
      record(status, body.head.length + rest, errorCode);
      if (newSession && status < 400) this.sessionCreated(lease, body.head);
      return;
    }
    res.writeHead(status, responseHeaders(answer.headers));
    let responseBytes = 0;
    answer.on('data', (chunk: Buffer) => (responseBytes += chunk.length));
    answer.pipe(res);
    await finished(answer);
    record(status, responseBytes, '');
    if (req.method === 'DELETE' && /^\/session\/[^/]+$/.test(path)) this.sessionDeleted(lease, sessionId, 'client');
  }

  /** A connection ended (revoked, runtime stopped, or its lease ran out): its sessions go with it. */
  ended(connectionId: string, reason: EndReason | 'expired'): void {
    const tracked = this.tracked.get(connectionId);
    if (!tracked) return;
    this.untrack(connectionId);
    for (const sessionId of tracked.sessions) {
      void this.options.events.publish(tracked.lease, RunEvent.connectionClosed, {
        connectionId,
        webdriverSessionId: sessionId,
        closedBy: 'platform',
        reason,
      });
    }
    // A stopped runtime's agent is gone with its sessions; otherwise the agent deletes them (the browser stays).
    if (reason !== 'runtime_stopped') void this.release(tracked.lease);
  }

  close(): void {
    for (const connectionId of [...this.tracked.keys()]) this.untrack(connectionId);
  }

  private sessionCreated(lease: ConnectionLease, body: Buffer): void {
    let sessionId: unknown;
    try {
      const parsed = JSON.parse(body.toString('utf8')) as { value?: { sessionId?: unknown }; sessionId?: unknown };
      sessionId = parsed.value?.sessionId ?? parsed.sessionId;
    } catch {
      return;
    }
    if (typeof sessionId !== 'string') return;
    let tracked = this.tracked.get(lease.id);
    if (!tracked) {
      const expiry = setTimeout(() => this.ended(lease.id, 'expired'), Math.max(0, lease.expiresAt - Date.now()));
      expiry.unref();
      tracked = { lease, sessions: new Set(), expiry };
      this.tracked.set(lease.id, tracked);
    }
    tracked.sessions.add(sessionId);
    void this.options.events.publish(lease, RunEvent.connectionOpened, {
      connectionId: lease.id,
      webdriverSessionId: sessionId,
      target: 'webdriver',
    });
    this.options.touch([lease.runtimeId]);
  }

  private sessionDeleted(lease: ConnectionLease, sessionId: string, closedBy: 'client'): void {
    const tracked = this.tracked.get(lease.id);
    // Created through another replica: that one keeps its own account, this one reports the close all the same.
    tracked?.sessions.delete(sessionId);
    if (tracked && tracked.sessions.size === 0) this.untrack(lease.id);
    void this.options.events.publish(lease, RunEvent.connectionClosed, {
      connectionId: lease.id,
      webdriverSessionId: sessionId,
      closedBy,
    });
  }

  private untrack(connectionId: string): void {
    const tracked = this.tracked.get(connectionId);
    if (!tracked) return;
    clearTimeout(tracked.expiry);
    this.tracked.delete(connectionId);
  }

  private async release(lease: ConnectionLease): Promise<void> {
    if (!lease.webdriver) return;
    const url = new URL(lease.webdriver.url);
    url.pathname = AGENT_PATHS.webdriverRelease;
    const body = JSON.stringify({ connectionId: lease.id });
    try {
      await new Promise<void>((resolve, reject) => {
        const req = httpRequest(
          url,
          {
            method: 'POST',
            timeout: 10_000,
            headers: {
              authorization: `Bearer ${lease.webdriver?.token}`,
              'content-type': 'application/json',
              'content-length': Buffer.byteLength(body),
            },
          },
          (res) => {
            res.resume();
            if ((res.statusCode ?? 0) >= 400) reject(new Error(`agent answered ${res.statusCode}`));
            else res.on('end', resolve);
          },
        );
        req.on('timeout', () => req.destroy(new Error('timed out')));
        req.on('error', reject);
        req.end(body);
      });
    } catch (error) {
      this.logger.warn(`could not release the WebDriver sessions of ${lease.id}: ${String(error)}`);
    }
  }

  private record(
    lease: ConnectionLease,
    method: string,
    sessionId: string,
    startedAt: number,
    startedNs: bigint,
    outcome: { ok: boolean; errorCode: string; requestBytes: number; responseBytes: number },
  ): void {
    platformInstruments().webdriverCommands.add(1, {
      'webdriver.command': this.commandLabels.label(method),
      outcome: outcome.ok ? 'ok' : 'error',
    });
    this.options.publisher.add({
      runId: lease.runId,
      runtimeId: lease.runtimeId,
      spaceId: lease.spaceId,
      accountId: lease.accountId,
      connectionId: lease.id,
      source: 'webdriver',
      method,
      sessionId,
      startedAt: new Date(startedAt).toISOString(),
      durationMicros: (process.hrtime.bigint() - startedNs) / 1000n,
      ok: outcome.ok,
      errorCode: outcome.ok ? '' : outcome.errorCode,
      requestBytes: BigInt(outcome.requestBytes),
      responseBytes: BigInt(outcome.responseBytes),
    });
  }
}

/**
 * The command a WebDriver path names, with its ids replaced: `/session/abc/element/def/click` →
 * `/session/{sessionId}/element/{elementId}/click`. Records group by command, and element ids say nothing.
 */
export function commandOf(path: string): string {
  const parts = path.split('/').filter(Boolean);
  const out: string[] = [];
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] as string;
    out.push(part);
    const placeholder = ID_SEGMENTS[part];
    const next = parts[i + 1];
    if (placeholder && next !== undefined && !WORDS_AFTER[part]?.has(next)) {
      out.push(placeholder);
      i += 1;
    }
  }
  return `/${out.join('/')}`;
}

function responseHeaders(headers: IncomingHttpHeaders, length?: number): Record<string, string | number> {
  const out: Record<string, string | number> = {
    'content-type': headers['content-type'] ?? 'application/json; charset=utf-8',
    'cache-control': 'no-cache',
  };
  if (length !== undefined) out['content-length'] = length;
  else if (headers['content-length']) out['content-length'] = headers['content-length'];
  return out;
}

/** Up to `limit` bytes of a stream; `complete` when that was all of it, else the stream is paused after them. */
async function readBounded(stream: IncomingMessage, limit: number): Promise<{ head: Buffer; complete: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  const complete = await new Promise<boolean>((resolve) => {
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size > limit) {
        stream.off('data', onData);
        stream.pause();
        resolve(false);
      }
    };
    stream.on('data', onData);
    stream.once('end', () => resolve(true));
    stream.once('error', () => resolve(true));
  });
  return { head: Buffer.concat(chunks), complete };
}

function finished(stream: IncomingMessage): Promise<void> {
  return new Promise((resolve) => {
    if (stream.readableEnded) resolve();
    stream.once('end', () => resolve());
    stream.once('error', () => resolve());
    stream.once('close', () => resolve());
  });
}

/**
 * Refusals in both shapes a caller may read: the platform's error envelope, and W3C WebDriver's `value.error`,
 * which is what Selenium and other WebDriver clients turn into their exceptions.
 */
function sendError(res: ServerResponse, status: number, code: string, w3c: string, message: string): void {
  const text = JSON.stringify({ error: { code, message }, value: { error: w3c, message, stacktrace: '' } });
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-cache',
  });
  res.end(text);
}
