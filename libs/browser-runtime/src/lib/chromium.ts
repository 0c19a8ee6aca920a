import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserLaunchConfig } from '@bctrl/contracts';

export interface ChromiumOptions {
  chromePath: string;
  config: BrowserLaunchConfig;
  workDir: string;
  /** Passed through verbatim (the driver's `--bctrl-*` markers), so leftovers can be found by command line. */
  markerArgs: string[];
  /** Start Chromium with --no-sandbox (as root, or where the container is the sandbox). */
  noSandbox: boolean;
}

export interface ChromiumProcess {
  child: ChildProcess;
  userDataDir: string;
  downloadsDir: string;
  /** Resolves with the browser-level CDP WebSocket URL once Chromium listens; rejects if it exits first. */
  devtoolsUrl: Promise<string>;
  /** The end of what Chromium wrote to stderr so far: where it says why it would not start. */
  stderrTail(): string;
  /** Resolves once Chromium's stderr is closed (every process holding it ended) or it could not be spawned. */
  stderrClosed: Promise<void>;
}

/** How much of Chromium's stderr is kept for saying why it ended. */
const STDERR_TAIL_CHARS = 4_096;
/** How many of its last stderr lines a failure quotes. */
const FAILURE_STDERR_LINES = 5;

/** How Chromium ended, as its ChildProcess reported it. */
export interface ChromiumEnd {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the executable could not be spawned at all (the 'error' event). */
  spawnError?: NodeJS.ErrnoException;
}

/**
 * Why Chromium is gone, in a sentence for the runtime's `failure`: a missing executable says where it was looked
 * for and how to install it; an exit says its code (or signal) and Chromium's last stderr lines, where it explains.
 */
export function chromiumEndReason(chromePath: string, end: ChromiumEnd, stderr: string): string {
  if (end.spawnError) {
    // ENOENT is also what a script whose interpreter is missing gives: only a missing file is "not found".
    if (end.spawnError.code === 'ENOENT' && !existsSync(chromePath)) {
      return `Chromium not found at ${chromePath} (install it: apt-get install chromium)`;
    }
    return `Chromium at ${chromePath} could not be started: ${end.spawnError.message}`;
  }
  const lines = stderr
    .split('\n')
    .map((line) => line.trim())
    // Chromium in a container without a session bus logs D-Bus errors all its life: they never say why it ended.
    .filter((line) => line !== '' && !line.includes(':ERROR:dbus/'))
    .slice(-FAILURE_STDERR_LINES);
  const how = end.code !== null ? `with code ${end.code}` : `on signal ${end.signal ?? 'unknown'}`;
  return `Chromium exited ${how}${lines.length > 0 ? `: ${lines.join('\n')}` : ''}`;
}

/** Height of the browser UI headless=new keeps inside each window (Chromium 156: outerHeight - innerHeight). */
export const HEADLESS_UI_HEIGHT = 87;

/** The flags of FEASIBILITY.md "Chromium" every browser starts with (bench:runtimes launches raw Chromium with them). */
export const CHROMIUM_FLAGS: readonly string[] = [
  '--headless=new',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--no-default-browser-check',
  '--disable-sync',
  '--disable-quic',
  '--disable-dev-shm-usage',
  // No crash reporter: its handler processes escape Chromium's process group and outlive nothing useful.
  '--disable-breakpad',
];

/** The flags of FEASIBILITY.md "Chromium", plus the runtime's launch config. */
export function chromiumArgs(options: ChromiumOptions, userDataDir: string): string[] {
  const { config } = options;
  const args = [
    ...CHROMIUM_FLAGS,
    `--user-data-dir=${userDataDir}`,
    // Loopback only: the platform reaches CDP through this agent's host, tenants never directly.
    '--remote-debugging-address=127.0.0.1',
    '--remote-debugging-port=0',
  ];
  // Chromium refuses to start as root with its sandbox on; elsewhere the sandbox stays unless the pod is the sandbox.
  if (options.noSandbox) args.push('--no-sandbox');
  if (config.viewport) {
    // The runtime's viewport is the page's: headless=new still reserves its (invisible) browser UI inside the
    // window, so the window is made that much taller. Screen size follows, or pages would see a window wider
    // than their screen (Chromium's headless default screen is 800x600).
    const { width, height } = config.viewport;
    const windowHeight = height + HEADLESS_UI_HEIGHT;
    args.push(`--window-size=${width},${windowHeight}`, `--ozone-override-screen-size=${width},${windowHeight}`);
  }
  if (config.locale) args.push(`--lang=${config.locale}`, `--accept-lang=${config.locale}`);
  if (config.userAgent) args.push(`--user-agent=${config.userAgent}`);
  if (config.proxy) {
    // Credentials never go here (Chromium takes none on its command line anyway): the agent answers the challenge.
    args.push(`--proxy-server=${config.proxy.server}`);
    if (config.proxy.bypass?.length) args.push(`--proxy-bypass-list=${config.proxy.bypass.join(';')}`);
  }
  args.push(...options.markerArgs, 'about:blank');
  return args;
}

/**
 * Spawns Chromium and nothing else: no module beyond node's own is needed here, so the agent can call this before
 * loading its HTTP server and CDP client. Chromium gets its own process group so that the agent can kill it with
 * every helper process (zygotes, renderers) in one signal.
 */
export function launchChromium(options: ChromiumOptions): ChromiumProcess {
  const userDataDir = join(options.workDir, 'user-data');
  const downloadsDir = join(options.workDir, 'downloads');
  mkdirSync(join(userDataDir, 'Default'), { recursive: true });
  mkdirSync(downloadsDir, { recursive: true });
  // Downloads land in the work dir without a prompt; a preference survives CDP clients coming and going.
  writeFileSync(
    join(userDataDir, 'Default', 'Preferences'),
    JSON.stringify({ download: { default_directory: downloadsDir, prompt_for_download: false } }),
  );
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (options.config.timezone) env['TZ'] = options.config.timezone;
  const child = spawn(options.chromePath, chromiumArgs(options, userDataDir), {
    env,
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let tail = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    tail = (tail + chunk.toString('utf8')).slice(-STDERR_TAIL_CHARS);
  });
  const stderrClosed = new Promise<void>((resolve) => {
    child.once('close', () => resolve());
    child.once('error', () => resolve());
  });
  return {
    child,
    userDataDir,
    downloadsDir,
    devtoolsUrl: waitForDevtoolsUrl(child, userDataDir),
    stderrTail: () => tail,
    stderrClosed,
  };
}

const LISTENING = /DevTools listening on (ws:\/\/\S+)/;

/** Reads the URL from stderr (earliest) and, as a fallback, from DevToolsActivePort in the user-data-dir. */
function waitForDevtoolsUrl(child: ChildProcess, userDataDir: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let buffered = '';
    let settled = false;
    const finish = (error: Error | null, url?: string) => {
      if (settled) return;
      settled = true;
      clearInterval(poll);
      child.off('exit', onExit);
      child.off('error', onError);
      if (error) reject(error);
      else resolve(url as string);
    };
    const onData = (chunk: Buffer) => {
      if (settled) return;
      buffered += chunk.toString('utf8');
      const match = LISTENING.exec(buffered);
      if (match) finish(null, match[1]);
      else if (buffered.length > 1 << 16) buffered = buffered.slice(-4096);
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null) =>
      finish(new Error(`Chromium exited before listening (code ${code}, signal ${signal}): ${buffered.slice(-2000)}`));
    const onError = (error: Error) => finish(error);
    // stderr keeps flowing after the URL is found (and is dropped), or Chromium would block on a full pipe.
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
    child.once('error', onError);
    const poll = setInterval(() => {
      try {
        const [port, path] = readFileSync(join(userDataDir, 'DevToolsActivePort'), 'utf8').split('\n');
        if (port && path) finish(null, `ws://127.0.0.1:${port}${path}`);
      } catch {
        // Not written yet.
      }
    }, 50);
  });
}
