import { createHash, timingSafeEqual } from 'node:crypto';
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cdpCall, loadWebSocket } from '@bctrl/cdp-client';
import type { AgentHealth } from '@bctrl/contracts';
import { type AgentConfig, AgentConfigError, ENV, PATHS, readAgentConfig, webDriverToken } from './agent-env';
import { forwardCdp } from './cdp-forward';
import { type ChromiumEnd, chromiumEndReason, type ChromiumProcess, launchChromium } from './chromium';
import { DownloadWatcher } from './downloads';
import { FileApi } from './files';
import { PageEventFeed } from './page-events';
import { PROXY_AUTH_FAILED, ProxyAuthenticator } from './proxy-auth';
import { PageRecorder, RECORDING_FILE } from './recording';
import { WebDriverBridge } from './webdriver';
import { WorkArea } from './work-area';

/** Exit codes a supervisor can tell apart: 0 stop was asked for, 3 Chromium died on its own. */
export const AGENT_EXIT = { stopped: 0, failed: 1, badConfig: 2, browserExited: 3 } as const;

/** Name of the file in the work dir that tells a restarted orchestrator how to reach this agent. */
export const AGENT_STATE_FILE = 'agent.json';

/** What the agent writes to its work dir, for drivers that find it again after a restart. */
export interface AgentStateFile {
  pid: number;
  port: number;
  runtimeId: string;
  chromiumPid: number | null;
}

const GRACEFUL_CLOSE_MS = 3_000;
/** How long an ended Chromium's last stderr lines are waited for: they say why it ended. */
const STDERR_DRAIN_MS = 1_000;
const STARTUP_TIMEOUT_MS = 60_000;

/** One JSON object per stdout line: the only channel a local supervisor reads. */
function emit(event: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

/**
 * Runs the browser-runtime agent in this process until Chromium or the agent is stopped; ends the process.
 * Chromium is spawned first of all: the HTTP server and the CDP client come up while Chromium boots.
 */
/** Set by a driver that keeps an agent booted ahead of demand; see runStandby. */
const STANDBY_ENV = ENV.standby;

/** What a driver writes (one JSON line on stdin) to turn a standby agent into a runtime's agent. */
export interface StandbyLaunch {
  runtimeId: string;
  launchConfig: Record<string, unknown>;
  /** ProxyCredentials: the one way a local driver hands them over (never env or argv, which /proc shows). */
  proxyCredentials?: unknown;
}

/**
 * A standby agent has booted Node and loaded its code, but started no Chromium and holds no tenant's anything:
 * it waits for one launch line on stdin, then runs exactly like an agent started with that config. Node's own
 * boot (≈75 ms) is so paid before a runtime is asked for instead of on its cold start. If the driver goes away
 * (stdin closes) first, the standby just exits.
 */
function runStandby(argv: string[], env: NodeJS.ProcessEnv): void {
  void loadWebSocket();
  let buffer = '';
  const onData = (chunk: Buffer) => {
    buffer += chunk.toString('utf8');
    const newline = buffer.indexOf('\n');
    if (newline < 0) return;
    process.stdin.off('data', onData);
    process.stdin.off('end', onEnd);
    process.stdin.pause();
    let launch: StandbyLaunch;
    try {
      launch = JSON.parse(buffer.slice(0, newline)) as StandbyLaunch;
    } catch {
      process.stderr.write('browser-runtime: the standby launch line is not JSON\n');
      process.exit(AGENT_EXIT.badConfig);
    }
    const launched: NodeJS.ProcessEnv = {
      ...env,
      [STANDBY_ENV]: '',
      [ENV.runtimeId]: launch.runtimeId ?? '',
      [ENV.launchConfig]: JSON.stringify(launch.launchConfig ?? {}),
    };
    runAgent([...argv, `--bctrl-runtime=${launch.runtimeId ?? ''}`], launched, launch.proxyCredentials);
  };
  const onEnd = () => process.exit(AGENT_EXIT.stopped);
  process.stdin.on('data', onData);
  process.stdin.on('end', onEnd);
}

export function runAgent(
  argv: string[] = process.argv,
  env: NodeJS.ProcessEnv = process.env,
  proxyCredentials?: unknown,
): void {
  if (env[STANDBY_ENV] === '1') return runStandby(argv, env);
  const startedAt = new Date().toISOString();
  // A supervisor that went away must not take the agent down with EPIPE on its next status line.
  process.stdout.on('error', () => undefined);
  let config: AgentConfig;
  try {
    config = readAgentConfig(env, proxyCredentials);
    // Chromium and chromedriver inherit this process's environment: the pod's copy of the credentials stays here.
    delete process.env[ENV.proxyCredentials];
  } catch (error) {
    if (!(error instanceof AgentConfigError)) throw error;
    process.stderr.write(`browser-runtime: ${error.message}\n`);
    process.exit(AGENT_EXIT.badConfig);
  }
  const workDir = config.workDir ?? mkdtempSync(join(tmpdir(), 'bctrl-agent-'));
  if (config.workDir) mkdirSync(workDir, { recursive: true });
  const spawnStart = performance.now();
  const chromium = launchChromium({
    chromePath: config.chromePath,
    config: config.launch,
    workDir,
    markerArgs: argv.filter((arg) => arg.startsWith('--bctrl-')),
    noSandbox: process.getuid?.() === 0 || env[ENV.chromiumSandbox] === 'off',
  });
  // Load the CDP client while Chromium boots, so it is ready the moment DevTools listens.
  void loadWebSocket();
  new Agent(config, workDir, chromium, startedAt, spawnStart).start();
}

class Agent {
  private status: AgentHealth['status'] = 'starting';
  private runtimeId: string;
  private product = '';
  private cdpUrl = '';
  private readyAt: string | null = null;
  private port = 0;
  private chromiumExited = false;
  private readonly chromiumExit: Promise<void>;
  private readonly server: Server;
  private readonly tokenDigest: Buffer;
  /** Of the token cdp-proxy keeps in WebDriver connections' leases: good for the WebDriver routes only. */
  private readonly webDriverTokenDigest: Buffer;
  private readonly feed = new PageEventFeed();
  /** Null when the runtime's launch config turned recording off. */
  private readonly recorder: PageRecorder | null;
  private readonly files: FileApi;
  private readonly downloads: DownloadWatcher;
  private readonly webdriver: WebDriverBridge;
  /** Null without proxy credentials. */
  private readonly proxyAuth: ProxyAuthenticator | null;

  constructor(
    private readonly config: AgentConfig,
    private readonly workDir: string,
    private readonly chromium: ChromiumProcess,
    private readonly startedAt: string,
    /** performance.now() (ms since this process started) when Chromium was spawned: for the startup timings. */
    private readonly spawnStart: number,
  ) {
    this.runtimeId = config.runtimeId;
    this.tokenDigest = digest(config.token);
    this.webDriverTokenDigest = digest(webDriverToken(config.token));
    this.recorder = config.launch.recording === false ? null : new PageRecorder(join(workDir, RECORDING_FILE));
    this.proxyAuth =
      config.proxyCredentials && config.launch.proxy
        ? new ProxyAuthenticator(config.proxyCredentials, config.launch.proxy.server, (data) =>
            this.feed.push(PROXY_AUTH_FAILED, data),
          )
        : null;
    const area = new WorkArea(workDir);
    this.files = new FileApi(area, config.maxFileBytes);
    this.downloads = new DownloadWatcher(area, config.maxFileBytes, (type, data) => this.feed.push(type, { ...data }));
    this.webdriver = new WebDriverBridge({
      chromedriverPath: config.chromedriverPath,
      debuggerAddress: () => (this.status === 'ready' ? `127.0.0.1:${new URL(this.cdpUrl).port}` : null),
    });
    this.server = createServer((req, res) => this.handle(req, res));
    this.chromiumExit = new Promise((resolve) => {
      chromium.child.once('exit', (code, signal) => {
        this.chromiumExited = true;
        resolve();
        void this.onChromiumExit({ code, signal });
      });
    });
    // A spawn failure (bad CHROME_PATH) arrives as 'error' without 'exit'.
    chromium.child.once('error', (error) => {
      if (this.chromiumExited) return;
      this.chromiumExited = true;
      void this.onChromiumExit({ code: null, signal: null, spawnError: error });
    });
  }

  start(): void {
    this.installExitGuards();
    this.server.listen(this.config.port, this.config.host, () => {
      this.port = (this.server.address() as AddressInfo).port;
      this.writeState();
      emit({ event: 'listening', port: this.port });
    });
    if (this.config.cdpPort !== undefined) {
      forwardCdp(this.config.host, this.config.cdpPort, this.chromium.devtoolsUrl).once('error', (error) =>
        this.fail(`cannot forward CDP on port ${this.config.cdpPort}: ${error.message}`),
      );
    }
    void this.waitReady();
  }

  private async waitReady(): Promise<void> {
    const timer = setTimeout(() => this.fail('Chromium did not answer CDP in time'), STARTUP_TIMEOUT_MS);
    try {
      const url = await this.chromium.devtoolsUrl;
      const listeningAt = performance.now();
      // Side by side, not one after the other: proxy authentication is on before ready without adding a round trip.
      const [version] = await Promise.all([
        cdpCall<{ product: string }>(url, 'Browser.getVersion'),
        this.proxyAuth?.attach(url),
      ]);
      if (this.status !== 'starting') return;
      this.cdpUrl = url;
      this.product = version.product;
      this.readyAt = new Date().toISOString();
      this.status = 'ready';
      // Milliseconds since this process started, so a benchmark can tell node's start from Chromium's.
      const timings = {
        spawn: Math.round(this.spawnStart),
        devtoolsListening: Math.round(listeningAt),
        ready: Math.round(performance.now()),
      };
      emit({ event: 'ready', product: this.product, cdpUrl: url, timings });
      // After the ready line, so a cold start never waits for it.
      this.feed.attach(url).catch((error: unknown) => {
        process.stderr.write(`browser-runtime: page events unavailable: ${String(error)}\n`);
      });
      this.recorder?.attach(url).catch((error: unknown) => {
        process.stderr.write(`browser-runtime: recording unavailable: ${String(error)}\n`);
      });
      this.downloads.attach(url).catch((error: unknown) => {
        process.stderr.write(`browser-runtime: download capture unavailable: ${String(error)}\n`);
      });
    } catch (error) {
      // Chromium exiting is reported by its own exit handler; anything else is a failed start.
      if (!this.chromiumExited && this.status === 'starting') this.fail(String(error));
    } finally {
      clearTimeout(timer);
    }
  }

  private health(): AgentHealth {
    return {
      status: this.status,
      runtimeId: this.runtimeId,
      browser:
        this.status === 'ready' && this.chromium.child.pid
          ? { pid: this.chromium.child.pid, product: this.product, cdpUrl: this.cdpUrl }
          : null,
      startedAt: this.startedAt,
      readyAt: this.readyAt,
    };
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const send = (code: number, body: unknown) => {
      const text = JSON.stringify(body);
      res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    const path = (req.url ?? '').split('?')[0];
    const webdriver = path === PATHS.webdriver || path.startsWith(`${PATHS.webdriver}/`);
    if (!this.authorized(req.headers.authorization, webdriver || path === PATHS.webdriverRelease)) {
      send(401, { error: 'unauthorized' });
      return;
    }
    if (webdriver) {
      // A prefix, so it cannot be a case below; the relay gets the rest of the URL, query string included.
      const rest = (req.url ?? '').slice(PATHS.webdriver.length);
      void this.webdriver.relay(req, res, rest.startsWith('/') ? rest : `/${rest}`);
      return;
    }
    const route = `${req.method} ${path}`;
    switch (route) {
      case `GET ${PATHS.health}`:
        send(this.status === 'ready' ? 200 : 503, this.health());
        return;
      case `POST ${PATHS.shutdown}`:
        send(202, { status: 'stopping' });
        // Answer first: the caller learns the stop was accepted even though this process is about to end.
        res.once('finish', () => void this.shutdown(AGENT_EXIT.stopped));
        return;
      case `GET ${PATHS.events}`: {
        const query = new URL(req.url ?? '', 'http://agent').searchParams;
        const after = Number(query.get('after') ?? 0);
        const waitMs = Math.min(Number(query.get('waitMs') ?? 0), 30_000);
        if (!Number.isInteger(after) || after < 0 || !Number.isFinite(waitMs) || waitMs < 0) {
          send(400, { error: 'after and waitMs must be whole numbers' });
          return;
        }
        void this.feed.since(after, 500, waitMs).then((events) => send(200, { events }));
        return;
      }
      case `GET ${PATHS.recording}`:
        if (!this.recorder) send(404, { error: 'recording is off' });
        else void this.recorder.serve(res);
        return;
      case `PUT ${PATHS.files}`:
        void this.files.put(req, res, send);
        return;
      case `GET ${PATHS.files}`:
        void this.files.get(req, res, send);
        return;
      case `GET ${PATHS.filesList}`:
        void this.files.list(req, res, send);
        return;
      case `POST ${PATHS.webdriverRelease}`:
        void this.webdriver.release(req, res);
        return;
      case `POST ${PATHS.assign}`:
        readJson(req).then(
          (body) => this.assign(body, send),
          () => send(400, { error: 'body must be JSON' }),
        );
        return;
      default:
        send(Object.values(PATHS).includes(path as never) ? 405 : 404, { error: 'not found' });
    }
  }

  private assign(body: unknown, send: (code: number, body: unknown) => void): void {
    const runtimeId = (body as { runtimeId?: unknown } | null)?.runtimeId;
    if (typeof runtimeId !== 'string' || runtimeId.length === 0 || runtimeId.length > 200) {
      send(400, { error: 'runtimeId is required' });
      return;
    }
    // A browser serves exactly one runtime for its whole life: tenants never share state.
    if (this.runtimeId !== '') {
      send(400, { error: 'already assigned', runtimeId: this.runtimeId });
      return;
    }
    if (this.status === 'stopping') {
      send(409, { error: 'stopping' });
      return;
    }
    this.runtimeId = runtimeId;
    this.writeState();
    emit({ event: 'assigned', runtimeId });
    send(200, this.health());
  }

  /** The agent token opens every route; the WebDriver token only the WebDriver ones. */
  private authorized(header: string | undefined, webdriverRoute: boolean): boolean {
    if (!header?.startsWith('Bearer ')) return false;
    // Comparing fixed-size digests keeps the comparison constant-time whatever the presented length.
    const presented = digest(header.slice('Bearer '.length));
    return (
      timingSafeEqual(presented, this.tokenDigest) ||
      (webdriverRoute && timingSafeEqual(presented, this.webDriverTokenDigest))
    );
  }

  private async shutdown(code: number): Promise<void> {
    if (this.status === 'stopping') return;
    this.status = 'stopping';
    this.webdriver.close();
    this.proxyAuth?.close();
    this.feed.close();
    this.recorder?.close();
    this.downloads.close();
    if (!this.chromiumExited) {
      // Graceful first (Chromium flushes its profile), but only for a browser that already answers CDP.
      const url = this.cdpUrl;
      const closed =
        url !== '' &&
        (await Promise.race([
          cdpCall(url, 'Browser.close', {}, GRACEFUL_CLOSE_MS)
            .catch(() => undefined)
            .then(() => this.chromiumExit)
            .then(() => true),
          new Promise<boolean>((resolve) => setTimeout(() => resolve(false), GRACEFUL_CLOSE_MS).unref()),
        ]));
      if (!closed) this.killChromium();
    }
    // Helpers (renderers, zygotes) can outlive the browser process by a moment; the group kill takes them too.
    this.killChromium();
    await this.chromiumExit;
    this.server.close();
    this.removeWorkDir();
    process.exit(code);
  }

  private async onChromiumExit(end: ChromiumEnd): Promise<void> {
    if (this.status === 'stopping') return;
    this.status = 'stopping';
    // Helpers still holding Chromium's stderr go first; then its last words are read to their end.
    this.killChromium();
    await Promise.race([
      this.chromium.stderrClosed,
      new Promise((resolve) => setTimeout(resolve, STDERR_DRAIN_MS).unref()),
    ]);
    const detail = chromiumEndReason(this.config.chromePath, end, this.chromium.stderrTail());
    process.stderr.write(`browser-runtime: ${detail}\n`);
    emit({ event: 'browser-exited', code: end.code, signal: end.signal, detail });
    this.webdriver.close();
    this.server.close();
    this.removeWorkDir();
    process.exit(AGENT_EXIT.browserExited);
  }

  private fail(reason: string): void {
    process.stderr.write(`browser-runtime: ${reason}\n`);
    this.status = 'stopping';
    this.webdriver.close();
    this.killChromium();
    this.removeWorkDir();
    process.exit(AGENT_EXIT.failed);
  }

  /** SIGKILL to Chromium's whole process group (it was spawned as its leader). Safe to call repeatedly. */
  private killChromium(): void {
    const pid = this.chromium.child.pid;
    if (!pid) return;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // Group already gone.
    }
  }

  private removeWorkDir(): void {
    try {
      rmSync(this.workDir, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      // A mounted work dir (a pod's emptyDir) cannot itself be removed; its contents are gone by now.
    }
  }

  private writeState(): void {
    const state: AgentStateFile = {
      pid: process.pid,
      port: this.port,
      runtimeId: this.runtimeId,
      chromiumPid: this.chromium.child.pid ?? null,
    };
    try {
      const file = join(this.workDir, AGENT_STATE_FILE);
      writeFileSync(`${file}.tmp`, JSON.stringify(state));
      renameSync(`${file}.tmp`, file);
    } catch {
      // Only a restarted orchestrator reads it, and that has /proc as its fallback.
    }
  }

  /**
   * Chromium and chromedriver never outlive the agent, whatever ends it: signals, uncaught errors, process.exit
   * anywhere (and for chromedriver, SIGKILL too: see WebDriverBridge).
   */
  private installExitGuards(): void {
    process.on('exit', () => {
      this.webdriver.close();
      this.killChromium();
      this.removeWorkDir();
    });
    for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
      process.on(signal, () => void this.shutdown(AGENT_EXIT.stopped));
    }
    const crash = (error: unknown) => {
      process.stderr.write(
        `browser-runtime: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
      );
      process.exit(AGENT_EXIT.failed);
    };
    process.on('uncaughtException', crash);
    process.on('unhandledRejection', crash);
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > 64 * 1024) {
        reject(new Error('body too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      try {
        resolve(chunks.length === 0 ? {} : JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch (error) {
        reject(error as Error);
      }
    });
    req.on('error', reject);
  });
}
