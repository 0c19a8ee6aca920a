import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { AGENT_ENV } from '@bctrl/contracts';

/** One process of an installation's browsers, as seen in /proc. */
export interface InstallationProcess {
  pid: number;
  /** `agent`: a browser-runtime agent; `chromium`: Chromium or one of its helpers. */
  kind: 'agent' | 'chromium';
  argv: string[];
}

/** Where the local-process driver puts the work dirs of one installation's browsers unless told otherwise. */
export function defaultWorkRoot(installationId: string): string {
  return join(tmpdir(), 'bctrl-browsers', installationId);
}

export function instanceMarker(installationId: string): string {
  return `--bctrl-instance=${installationId}`;
}

export const RUNTIME_MARKER_PREFIX = '--bctrl-runtime=';

/**
 * The pid of the process whose driver spawned an agent, in the agent's environment. While that process lives the
 * agent stays its child; once the agent's parent is anyone else, its driver is gone (a crash) and whichever driver
 * found it since is the one to answer for it.
 */
export const SPAWNER_PID_ENV = 'BCTRL_AGENT_SPAWNER_PID';

/** The parent pid of a live process, or null when it is gone. */
export function parentOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return null;
  }
}

/** True when an agent's spawning process is no longer its parent: that driver ended without stopping it. */
export function isOrphanedAgent(pid: number): boolean {
  const spawner = Number(readProcessEnv(pid)[SPAWNER_PID_ENV]);
  const parent = parentOf(pid);
  if (parent === null) return false;
  // An agent from before the variable existed has no spawner to compare: it counts as orphaned when init took it.
  return Number.isInteger(spawner) && spawner > 0 ? parent !== spawner : parent === 1;
}

/**
 * Every live process that belongs to an installation's local browsers: agents and Chromium carry the
 * `--bctrl-instance` marker, Chromium's helper processes (zygotes, renderers, GPU) a user-data-dir under the work
 * root. Zombies are skipped: they hold no memory and vanish when reaped. Chromium's crash handler carries neither
 * and exits by itself when its browser ends.
 */
export function findInstallationProcesses(installationId: string, workRoot = defaultWorkRoot(installationId)) {
  const marker = instanceMarker(installationId);
  const userDataPrefix = `--user-data-dir=${workRoot}/`;
  const found: InstallationProcess[] = [];
  for (const { pid, argv } of listProcesses()) {
    const marked = argv.includes(marker);
    const underRoot = argv.some((arg) => arg.startsWith(userDataPrefix));
    if (!marked && !underRoot) continue;
    const isChromium = argv.some((arg) => arg.startsWith('--user-data-dir=') || arg.startsWith('--type='));
    if (!isChromium && isIdleStandby(pid)) continue;
    found.push({ pid, kind: isChromium ? 'chromium' : 'agent', argv });
  }
  return found;
}

/**
 * A standby agent a driver keeps booted has no browser until it is launched (its state file appears then), and
 * it exits by itself when its driver's process goes: it is not one of the installation's browsers.
 */
function isIdleStandby(pid: number): boolean {
  const env = readProcessEnv(pid);
  return env[AGENT_ENV.standby] === '1' && !existsSync(join(env[AGENT_ENV.workDir] ?? '/nonexistent', 'agent.json'));
}

/**
 * Chromium browser processes of an installation whose agent is gone: the agent was SIGKILLed while no driver was
 * there to clean up after it (the platform was down too). No driver lists them, since only agents are listed, so
 * nothing would ever stop them. Every agent counts as present here, a standby that is just launching included: its
 * Chromium starts before its state file exists.
 */
export function strayChromiums(installationId: string, workRoot = defaultWorkRoot(installationId)) {
  const marker = instanceMarker(installationId);
  const userDataPrefix = `--user-data-dir=${workRoot}/`;
  const all = listProcesses();
  const isChromium = (argv: string[]) =>
    argv.some((arg) => arg.startsWith('--user-data-dir=') || arg.startsWith('--type='));
  const agentUserDataDirs = new Set<string>();
  for (const { pid, argv } of all) {
    if (!argv.includes(marker) || isChromium(argv)) continue;
    const workDir = readProcessEnv(pid)[AGENT_ENV.workDir];
    // An agent whose environment cannot be read might own any of them: then none is taken for a stray.
    if (!workDir) return [];
    agentUserDataDirs.add(`--user-data-dir=${join(workDir, 'user-data')}`);
  }
  return all
    .filter(({ argv }) => !argv.some((arg) => arg.startsWith('--type=')))
    .flatMap(({ pid, argv }) => {
      const userDataDir = argv.find((arg) => arg.startsWith(userDataPrefix));
      if (!userDataDir || agentUserDataDirs.has(userDataDir)) return [];
      return [{ pid, workDir: dirname(userDataDir.slice('--user-data-dir='.length)) }];
    });
}

/** Every live, non-zombie process other than this one, with its argv. */
export function listProcesses(): { pid: number; argv: string[] }[] {
  const result: { pid: number; argv: string[] }[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return result;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid || !isAlive(pid)) continue;
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
      if (argv.length > 0) result.push({ pid, argv });
    } catch {
      // Ended while we looked.
    }
  }
  return result;
}

/** True while the process exists and is not a zombie (a killed child waits as a zombie until reaped). */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The state follows the parenthesised command name, which may itself contain spaces or parentheses.
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** The environment a process started with (readable for processes of the same user). */
export function readProcessEnv(pid: number): Record<string, string> {
  const env: Record<string, string> = {};
  try {
    for (const pair of readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')) {
      const eq = pair.indexOf('=');
      if (eq > 0) env[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
  } catch {
    // Gone, or another user's.
  }
  return env;
}

/** SIGKILL, ignoring a process (or group, for a negative pid) that is already gone. */
export function killQuietly(pid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  // 0 and -1 mean "my whole process group" and "every process I may signal": never what a caller means when a
  // child's pid is unknown.
  if (!Number.isInteger(pid) || pid === 0 || pid === -1) return;
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}
