import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  AGENT_ENV,
  AGENT_PATHS,
  type AgentHealth,
  type BrowserLaunchConfig,
  type ProxyCredentials,
} from '@bctrl/contracts';
import { agentRequest } from './agent-client';
import type { BrowserDriver, BrowserExit, BrowserHandle, BrowserSpec, DiscoveredBrowser } from './browser-driver';
import {
  defaultWorkRoot,
  findInstallationProcesses,
  instanceMarker,
  isAlive,
  isOrphanedAgent,
  killQuietly,
  readProcessEnv,
  RUNTIME_MARKER_PREFIX,
  SPAWNER_PID_ENV,
  strayChromiums,
} from './local-processes';

export interface AgentCommand {
  command: string;
  args: string[];
  cwd?: string;
}

export interface LocalProcessDriverOptions {
  /** Marks every process this installation starts, so a restarted orchestrator finds (only) its own. */
  installationId: string;
  /** How to start the browser-runtime agent; by default the built app, else its source through swc. */
  agentCommand?: AgentCommand;
  /** Where `dist/` and `apps/` are looked up for the default agent command. Default: the working directory. */
  repoRoot?: string;
  /** Launch → ready ceiling; past it the browser is killed and launch rejects. Default 30 s. */
  launchTimeoutMs?: number;
  /** How long destroy waits for a graceful stop before SIGKILL. Default 5 s (the agent itself allows Chromium 3 s). */
  destroyGraceMs?: number;
  /** Launch config of pooled browsers. */
  defaultConfig?: BrowserLaunchConfig;
  chromePath?: string;
  /** Parent of the browsers' work dirs. Default: `<tmp>/bctrl-browsers/<installationId>`. */
  workRoot?: string;
  /** Extra environment for the agents. */
  env?: NodeJS.ProcessEnv;
  /**
   * Keep one agent booted in standby (Node loaded, no Chromium, no tenant state) so that a cold launch does not
   * pay Node's boot. Default true.
   */
  standby?: boolean;
}

/** An agent booted ahead of demand, waiting for its launch line on stdin. */
interface Standby {
  child: ChildProcess;
  token: string;
  workDir: string;
  /** The process could not be spawned or its stdin broke: never hand it a launch. */
  failed: boolean;
}

interface AgentState {
  port: number;
  runtimeId: string;
  chromiumPid: number | null;
}

/** A browser this driver instance knows: one it started (`child`), or one an earlier instance left (found by list). */
interface Entry {
  ref: string;
  pid: number;
  child: ChildProcess | null;
  runtimeId: string;
  token: string;
  workDir: string;
  agentUrl: string;
  cdpUrl: string;
  /** Set once destroy was asked for: the exit is then `stopped`, not `crashed`. */
  destroying: Promise<void> | null;
  /** Handed out (launch resolved or found by list): only those are reported to onExit. */
  live: boolean;
  exitDetail: string;
  exited: Promise<void>;
  markExited: () => void;
}

// A fallback only: readiness comes with the agent's `ready` line. Polling every 25 ms (as when health was the
// signal) cost a dozen HTTP requests on the cores Chromium boots on.
const HEALTH_POLL_MS = 250;
const FOREIGN_POLL_MS = 1_000;
const STANDBY_REFILL_DELAY_MS = 250;
/** How long an exited agent's stdout and stderr are read on for its last lines before its end is reported. */
const PIPE_DRAIN_MS = 1_000;

/**
 * Runs each browser as a browser-runtime agent child process on this machine (local mode and the e2e suites).
 * The orchestrator talks to the agent over HTTP only, like it talks to a pod's agent on Kubernetes.
 */
export class LocalProcessDriver implements BrowserDriver {
  readonly kind = 'local-process' as const;
  private readonly entries = new Map<string, Entry>();
  private readonly listeners: ((exit: BrowserExit) => void)[] = [];
  private readonly workRoot: string;
  private readonly agentCommand: AgentCommand;
  private readonly launchTimeoutMs: number;
  private readonly destroyGraceMs: number;
  private foreignWatch: NodeJS.Timeout | null = null;
  private closed = false;

  private standby: Standby | null = null;

  constructor(private readonly options: LocalProcessDriverOptions) {
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(options.installationId)) {
      throw new Error('installationId must be 1-64 characters of [A-Za-z0-9._-]');
    }
    this.workRoot = options.workRoot ?? defaultWorkRoot(options.installationId);
    this.agentCommand = options.agentCommand ?? defaultAgentCommand(options.repoRoot ?? process.cwd());
    this.launchTimeoutMs = options.launchTimeoutMs ?? 30_000;
    this.destroyGraceMs = options.destroyGraceMs ?? 5_000;
    this.refillStandby();
  }

  launch(spec: BrowserSpec, signal?: AbortSignal): Promise<BrowserHandle> {
    return this.start(spec.runtimeId, spec.config, signal, spec.proxyCredentials);
  }

  launchPooled(signal?: AbortSignal): Promise<BrowserHandle> {
    return this.start('', this.options.defaultConfig ?? {}, signal);
  }

  async adopt(pooled: BrowserHandle, spec: BrowserSpec): Promise<BrowserHandle> {
    const entry = this.entries.get(pooled.ref) ?? this.discover(pooled.ref);
    if (!entry) throw new Error(`browser ${pooled.ref} is not running`);
    const response = await agentRequest(entry.agentUrl, entry.token, 'POST', AGENT_PATHS.assign, {
      runtimeId: spec.runtimeId,
    });
    if (response.status !== 200) {
      throw new Error(`agent refused assign to ${spec.runtimeId}: ${response.status} ${response.body}`);
    }
    entry.runtimeId = spec.runtimeId;
    return { ...pooled, runtimeId: spec.runtimeId };
  }

  destroy(ref: string): Promise<void> {
    const entry = this.entries.get(ref) ?? this.discover(ref);
    if (!entry) return Promise.resolve();
    entry.destroying ??= this.stop(entry);
    return entry.destroying;
  }

  async list(): Promise<DiscoveredBrowser[]> {
    await this.removeStrayChromiums();
    const marker = instanceMarker(this.options.installationId);
    const result: DiscoveredBrowser[] = [];
    for (const proc of findInstallationProcesses(this.options.installationId, this.workRoot)) {
      if (proc.kind !== 'agent' || !proc.argv.includes(marker)) continue;
      // The standby agent has no browser yet: it is this driver's spare, not a browser to account for.
      if (proc.pid === this.standby?.child.pid) continue;
      const entry = this.entries.get(String(proc.pid)) ?? this.discover(String(proc.pid));
      if (entry) result.push({ runtimeId: entry.runtimeId, ref: entry.ref });
    }
    return result;
  }

  onExit(listener: (exit: BrowserExit) => void): void {
    this.listeners.push(listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    const standby = this.takeStandby();
    if (standby) {
      // Closing its stdin is the standby's signal to exit; SIGKILL if it does not.
      const exited = new Promise<void>((resolve) => standby.child.once('exit', () => resolve()));
      standby.child.stdin?.end();
      const timer = setTimeout(() => killQuietly(standby.child.pid as number), 2_000);
      await exited;
      clearTimeout(timer);
    }
    // Its own browsers, and those it took over from a driver that ended without stopping them (a restart after a
    // crash found them by list()): once this driver is gone too nobody would stop them. A browser whose driver
    // still runs (another orchestrator replica on this machine) is that one's to stop.
    const ours = [...this.entries.values()].filter((entry) => entry.child || isOrphanedAgent(entry.pid));
    await Promise.all(ours.map((entry) => this.destroy(entry.ref)));
    if (this.foreignWatch) clearInterval(this.foreignWatch);
    this.foreignWatch = null;
  }

  private async start(
    runtimeId: string,
    config: BrowserLaunchConfig,
    signal?: AbortSignal,
    proxyCredentials?: ProxyCredentials,
  ): Promise<BrowserHandle> {
    if (this.closed) throw new Error('driver is closed');
    signal?.throwIfAborted();
    const standby = this.takeStandby();
    let child: ChildProcess;
    let token: string;
    let workDir: string;
    const launchLine = `${JSON.stringify({ runtimeId, launchConfig: config, ...(proxyCredentials ? { proxyCredentials } : {}) })}\n`;
    if (standby) {
      ({ child, token, workDir } = standby);
      child.stdin?.end(launchLine);
    } else if (proxyCredentials) {
      // Credentials only ever travel in a launch line on stdin: /proc shows an agent's argv and environment.
      token = randomBytes(32).toString('base64url');
      workDir = join(this.workRoot, randomUUID());
      child = this.spawnAgent(
        token,
        workDir,
        { [AGENT_ENV.standby]: '1' },
        [`${RUNTIME_MARKER_PREFIX}${runtimeId}`],
        'pipe',
      );
      child.stdin?.once('error', () => undefined);
      child.stdin?.end(launchLine);
    } else {
      token = randomBytes(32).toString('base64url');
      workDir = join(this.workRoot, randomUUID());
      child = this.spawnAgent(
        token,
        workDir,
        { [AGENT_ENV.runtimeId]: runtimeId, [AGENT_ENV.launchConfig]: JSON.stringify(config) },
        [`${RUNTIME_MARKER_PREFIX}${runtimeId}`],
      );
    }
    const entry = this.track(child, runtimeId, token, workDir);
    try {
      const cdpUrl = await this.waitReady(entry, child, signal).finally(() => {
        // The next standby boots after this browser is up and its runtime answered, not on the same cores meanwhile.
        setTimeout(() => this.refillStandby(), STANDBY_REFILL_DELAY_MS).unref();
      });
      entry.cdpUrl = cdpUrl;
      entry.live = true;
      return this.handleOf(entry);
    } catch (error) {
      // Nothing may stay behind a failed launch: the agent, its Chromium and the work dir all go.
      entry.destroying = Promise.resolve();
      this.killTree(entry);
      await entry.exited;
      throw error;
    }
  }

  /** Spawns an agent process; its markers are argv it ignores (and hands on to Chromium) so /proc shows whose it is. */
  private spawnAgent(
    token: string,
    workDir: string,
    extraEnv: NodeJS.ProcessEnv,
    extraArgs: string[],
    stdin: 'ignore' | 'pipe' = 'ignore',
  ): ChildProcess {
    mkdirSync(this.workRoot, { recursive: true });
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...this.options.env,
      [AGENT_ENV.token]: token,
      [AGENT_ENV.port]: '0',
      [AGENT_ENV.host]: '127.0.0.1',
      [AGENT_ENV.workDir]: workDir,
      [SPAWNER_PID_ENV]: String(process.pid),
      ...extraEnv,
    };
    if (this.options.chromePath) env[AGENT_ENV.chromePath] = this.options.chromePath;
    const { command, args, cwd } = this.agentCommand;
    return spawn(command, [...args, instanceMarker(this.options.installationId), ...extraArgs], {
      cwd,
      env,
      // Own process group: a Ctrl-C meant for the orchestrator does not kill browsers that reconcile should judge.
      detached: true,
      stdio: [stdin, 'pipe', 'pipe'],
    });
  }

  /** The booted standby agent, if there is a healthy one; it is then this launch's and no longer the standby. */
  private takeStandby(): Standby | null {
    const standby = this.standby;
    this.standby = null;
    if (!standby) return null;
    const { child } = standby;
    if (
      standby.failed ||
      !child.pid ||
      child.exitCode !== null ||
      child.signalCode !== null ||
      !child.stdin?.writable
    ) {
      if (child.pid) killQuietly(child.pid);
      return null;
    }
    return standby;
  }

  private refillStandby(): void {
    if (this.options.standby === false || this.closed || this.standby) return;
    const token = randomBytes(32).toString('base64url');
    const workDir = join(this.workRoot, randomUUID());
    const child = this.spawnAgent(token, workDir, { [AGENT_ENV.standby]: '1' }, [], 'pipe');
    const standby: Standby = { child, token, workDir, failed: false };
    // A standby that dies (or cannot be spawned) is simply replaced at the next launch.
    child.once('error', () => (standby.failed = true));
    child.stdin?.once('error', () => (standby.failed = true));
    child.stdout?.resume();
    child.stderr?.resume();
    this.standby = standby;
  }

  private track(child: ChildProcess, runtimeId: string, token: string, workDir: string): Entry {
    let markExited: () => void = () => undefined;
    const exited = new Promise<void>((resolve) => (markExited = resolve));
    const entry: Entry = {
      ref: String(child.pid ?? `failed-${randomUUID()}`),
      pid: child.pid ?? 0,
      child,
      runtimeId,
      token,
      workDir,
      agentUrl: '',
      cdpUrl: '',
      destroying: null,
      live: false,
      exitDetail: '',
      exited,
      markExited,
    };
    this.entries.set(entry.ref, entry);
    let stderrTail = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderrTail = (stderrTail + chunk.toString('utf8')).slice(-2000);
    });
    child.once('error', (error) => {
      entry.exitDetail = `agent could not start: ${error.message}`;
      this.finish(entry);
    });
    child.once('exit', (code, signal) => {
      // 'exit' can come before the pipes are read to their end, where the agent said why (its browser-exited line).
      void closedOrAfter(child, PIPE_DRAIN_MS).then(() => {
        if (!entry.exitDetail) {
          entry.exitDetail = `agent exited (code ${code}, signal ${signal})${stderrTail ? `: ${stderrTail.trim()}` : ''}`;
        }
        this.finish(entry);
      });
    });
    return entry;
  }

  /**
   * Reads the agent's status lines: `listening` gives its port, `ready` its CDP URL. Health is polled meanwhile in
   * case a line is lost (a standby's stdout can be read late), so readiness never hangs on one line.
   */
  private waitReady(entry: Entry, child: ChildProcess, signal?: AbortSignal): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      let settled = false;
      let polling = false;
      let poller: NodeJS.Timeout | null = null;
      // Set from the agent's browser-exited line: why Chromium ended, which is why the launch failed.
      let browserEnded: string | null = null;
      const settle = (error: Error | null, cdpUrl = '') => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (poller) clearInterval(poller);
        signal?.removeEventListener('abort', onAbort);
        if (error) reject(error);
        else resolve(cdpUrl);
      };
      const poll = () => {
        if (polling || settled || !entry.agentUrl) return;
        polling = true;
        agentRequest(entry.agentUrl, entry.token, 'GET', AGENT_PATHS.health)
          .then((response) => {
            if (response.status === 200) settle(null, (JSON.parse(response.body) as AgentHealth).browser?.cdpUrl);
          })
          .catch(() => undefined)
          .finally(() => (polling = false));
      };
      const timer = setTimeout(
        () => settle(new Error(`browser did not become ready within ${this.launchTimeoutMs} ms`)),
        this.launchTimeoutMs,
      );
      const onAbort = () => settle(new Error('launch aborted', { cause: signal?.reason }));
      const onExit = () =>
        settle(new Error(browserEnded ?? `browser ended before it was ready: ${entry.exitDetail || 'agent exited'}`));
      signal?.addEventListener('abort', onAbort, { once: true });
      // Once the agent is gone with its pipes read (its last lines say why) or could not be spawned at all.
      void entry.exited.then(onExit);
      onLines(child, (event) => {
        if (event['event'] === 'listening' && typeof event['port'] === 'number') {
          entry.agentUrl = `http://127.0.0.1:${event['port']}`;
          poll();
          poller ??= setInterval(poll, HEALTH_POLL_MS);
        } else if (event['event'] === 'ready') {
          // The ready line carries what health would: answering from it saves a round trip on every cold start.
          if (entry.agentUrl && typeof event['cdpUrl'] === 'string') {
            settle(null, event['cdpUrl']);
          } else poll();
        } else if (event['event'] === 'browser-exited') {
          // The agent says why in a sentence (a missing executable, an exit code with Chromium's last stderr lines).
          entry.exitDetail =
            typeof event['detail'] === 'string' && event['detail'] !== ''
              ? event['detail']
              : `Chromium exited (code ${String(event['code'])}, signal ${String(event['signal'])})`;
          browserEnded = entry.exitDetail;
        }
      });
    });
  }

  private async stop(entry: Entry): Promise<void> {
    // A process found by list() is not our child: no exit event will come, so watch /proc for it instead.
    if (!entry.child) void this.awaitForeignExit(entry);
    const asked = entry.agentUrl
      ? await agentRequest(entry.agentUrl, entry.token, 'POST', AGENT_PATHS.shutdown, undefined, 2_000)
          .then((response) => response.status === 202)
          .catch(() => false)
      : false;
    // An agent we cannot reach over HTTP still shuts down gracefully on SIGTERM.
    if (!asked) killQuietly(entry.pid, 'SIGTERM');
    const graceful = await Promise.race([entry.exited.then(() => true), delay(this.destroyGraceMs).then(() => false)]);
    if (!graceful) this.killTree(entry);
    await entry.exited;
  }

  /** SIGKILL to the agent and to its Chromium with every helper, found by its user-data-dir in this work dir. */
  private killTree(entry: Entry): void {
    if (entry.pid) killQuietly(entry.pid);
    const userDataDir = `--user-data-dir=${join(entry.workDir, 'user-data')}`;
    for (const proc of findInstallationProcesses(this.options.installationId, this.workRoot)) {
      if (proc.kind === 'chromium' && proc.argv.includes(userDataDir)) {
        killQuietly(-proc.pid);
        killQuietly(proc.pid);
      }
    }
  }

  private finish(entry: Entry): void {
    if (this.entries.get(entry.ref) !== entry) return;
    this.entries.delete(entry.ref);
    // The exit is reported (and destroy resolves) only once nothing of the browser is left.
    void this.removeRemains(entry).finally(() => {
      entry.markExited();
      if (entry.live) this.report(entry);
    });
  }

  /**
   * The agent cleans up after itself on every path but SIGKILL; for that one its Chromium is still running (now
   * orphaned) and the work dir still there. Chromium is killed and awaited first: it writes into the user-data-dir
   * until its last moment, so removing the dir earlier races it.
   */
  private async removeRemains(entry: Entry): Promise<void> {
    const userDataDir = `--user-data-dir=${join(entry.workDir, 'user-data')}`;
    const remains = () =>
      findInstallationProcesses(this.options.installationId, this.workRoot).filter(
        (proc) => proc.kind === 'chromium' && proc.argv.includes(userDataDir),
      );
    const deadline = Date.now() + 3_000;
    for (let left = remains(); left.length > 0 && Date.now() < deadline; left = remains()) {
      for (const proc of left) killQuietly(proc.pid);
      await delay(25);
    }
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        rmSync(entry.workDir, { recursive: true, force: true });
        return;
      } catch {
        await delay(50);
      }
    }
  }

  private report(entry: Entry): void {
    const exit: BrowserExit = {
      runtimeId: entry.runtimeId,
      ref: entry.ref,
      reason: entry.destroying ? 'stopped' : 'crashed',
      detail: entry.exitDetail,
    };
    for (const listener of this.listeners) {
      try {
        listener(exit);
      } catch {
        // One listener's failure must not hide the exit from the others.
      }
    }
  }

  /**
   * Builds an entry for an agent an earlier driver instance started (an orchestrator restart): its token and work
   * dir come from its environment, its port and bound runtime from the state file the agent keeps in the work dir.
   */
  private discover(ref: string): Entry | undefined {
    const pid = Number(ref);
    if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return undefined;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      return undefined;
    }
    if (!argv.includes(instanceMarker(this.options.installationId))) return undefined;
    const env = readProcessEnv(pid);
    const workDir = env[AGENT_ENV.workDir] ?? '';
    let state: AgentState | null = null;
    try {
      state = JSON.parse(readFileSync(join(workDir, 'agent.json'), 'utf8')) as AgentState;
    } catch {
      // Not listening yet, or already gone.
    }
    // A standby agent (some driver's spare) that was never launched has no browser and no state file yet: it is
    // not a browser to account for, and it exits by itself when its driver goes.
    if (!state && env[AGENT_ENV.standby] === '1') return undefined;
    const markerRuntime = argv
      .find((arg) => arg.startsWith(RUNTIME_MARKER_PREFIX))
      ?.slice(RUNTIME_MARKER_PREFIX.length);
    let markExited: () => void = () => undefined;
    const exited = new Promise<void>((resolve) => (markExited = resolve));
    const entry: Entry = {
      ref,
      pid,
      child: null,
      runtimeId: state?.runtimeId ?? markerRuntime ?? '',
      token: env[AGENT_ENV.token] ?? '',
      workDir,
      agentUrl: state?.port ? `http://127.0.0.1:${state.port}` : '',
      cdpUrl: '',
      destroying: null,
      live: true,
      exitDetail: '',
      exited,
      markExited,
    };
    this.entries.set(ref, entry);
    this.foreignWatch ??= setInterval(() => this.checkForeign(), FOREIGN_POLL_MS);
    this.foreignWatch.unref();
    return entry;
  }

  private checkForeign(): void {
    for (const entry of this.entries.values()) {
      if (!entry.child && !isAlive(entry.pid)) {
        entry.exitDetail ||= 'agent process ended';
        this.finish(entry);
      }
    }
  }

  private async awaitForeignExit(entry: Entry): Promise<void> {
    while (isAlive(entry.pid)) await delay(50);
    entry.exitDetail ||= 'agent process ended';
    this.finish(entry);
  }

  /**
   * Chromiums whose agent died while no driver ran (kill -9 of the platform, then of an agent) belong to no runtime
   * anyone can list: they go, with their work dirs, each time the browsers are listed (reconcile: at boot and on
   * its interval).
   */
  private async removeStrayChromiums(): Promise<void> {
    const strays = strayChromiums(this.options.installationId, this.workRoot);
    if (strays.length === 0) return;
    for (const { pid } of strays) {
      killQuietly(-pid);
      killQuietly(pid);
    }
    const deadline = Date.now() + 3_000;
    while (strays.some(({ pid }) => isAlive(pid)) && Date.now() < deadline) await delay(25);
    for (const { workDir } of strays) rmSync(workDir, { recursive: true, force: true });
  }

  private handleOf(entry: Entry): BrowserHandle {
    return {
      runtimeId: entry.runtimeId,
      driver: this.kind,
      ref: entry.ref,
      agentUrl: entry.agentUrl,
      agentToken: entry.token,
      cdpUrl: entry.cdpUrl,
    };
  }
}

/** The built agent when `nx build browser-runtime` has run (fast start), else its source through swc. */
export function defaultAgentCommand(repoRoot: string): AgentCommand {
  const built = join(repoRoot, 'dist', 'apps', 'browser-runtime', 'main.js');
  if (existsSync(built)) return { command: process.execPath, args: [built], cwd: repoRoot };
  return {
    command: process.execPath,
    args: ['-r', '@swc-node/register', join(repoRoot, 'apps', 'browser-runtime', 'src', 'main.ts')],
    cwd: repoRoot,
  };
}

function onLines(child: ChildProcess, handler: (event: Record<string, unknown>) => void): void {
  let buffered = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline).trim();
      buffered = buffered.slice(newline + 1);
      if (!line.startsWith('{')) continue;
      try {
        handler(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // Not one of the agent's status lines.
      }
    }
  });
}

/** Resolves on the child's 'close' (its pipes read to their end), or after `ms` if something else holds them. */
function closedOrAfter(child: ChildProcess, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    timer.unref();
    child.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
