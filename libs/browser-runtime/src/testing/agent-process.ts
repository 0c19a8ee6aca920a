import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { AGENT_ENV, AGENT_PATHS, type AgentHealth, type BrowserLaunchConfig } from '@bctrl/contracts';

const repoRoot = resolve(__dirname, '../../../..');
const AGENT_MAIN = join(repoRoot, 'apps/browser-runtime/src/main.ts');

export interface AgentExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface StartedAgent {
  child: ChildProcess;
  token: string;
  workDir: string;
  url: string;
  /** Every JSON line the agent wrote to stdout so far, in order. */
  lines: Record<string, unknown>[];
  exit: Promise<AgentExit>;
}

export interface AgentLaunch {
  /** Sent as the agent's launch config; left unset (the agent's defaults) when absent. */
  config?: BrowserLaunchConfig;
  /** Left unset when absent. */
  runtimeId?: string;
  /** More of the agent's variables, e.g. its file size limit. */
  env?: Record<string, string>;
  /** Where the agent's stderr goes: a spec that makes it fail on purpose keeps its own output clean. */
  stderr?: 'inherit' | 'ignore';
}

/** Whether a process exists and is not a zombie. */
export function pidAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Polls the agent's health with its token until it answers 200, that is until its browser is ready. */
export async function waitHealthy(agent: Pick<StartedAgent, 'url' | 'token'>): Promise<AgentHealth> {
  for (let i = 0; i < 300; i++) {
    const response = await fetch(`${agent.url}${AGENT_PATHS.health}`, {
      headers: { authorization: `Bearer ${agent.token}` },
    });
    if (response.status === 200) return (await response.json()) as AgentHealth;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('agent never became ready');
}

/** Asks the agent to shut down, and waits until it has. */
export async function shutdown(agent: StartedAgent): Promise<AgentExit> {
  await fetch(`${agent.url}${AGENT_PATHS.shutdown}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${agent.token}` },
  });
  return agent.exit;
}

/**
 * The agents of one spec file, started from source (these specs test the code, not a build). Each carries the
 * spec's marker argument, which the agent passes on to its Chromium, and works under the spec's scratch directory,
 * so `leftovers()` finds whatever of them outlives a test.
 */
export class AgentProcesses {
  readonly instance: string;
  readonly scratch: string;
  private readonly running = new Set<ChildProcess>();

  constructor(name: string) {
    this.instance = `${name}-spec-${randomBytes(4).toString('hex')}`;
    this.scratch = mkdtempSync(join(tmpdir(), `bctrl-${name}-spec-`));
  }

  /** Spawns the agent with `env` over this process's environment, and nothing else: for agents that must not start. */
  spawn(env: NodeJS.ProcessEnv, stdio: 'ignore' | ['ignore', 'pipe', 'inherit' | 'ignore']): ChildProcess {
    const child = spawn(
      process.execPath,
      ['-r', '@swc-node/register', AGENT_MAIN, `--bctrl-instance=${this.instance}`],
      {
        cwd: repoRoot,
        env: { ...process.env, ...env },
        stdio,
      },
    );
    this.running.add(child);
    child.once('exit', () => this.running.delete(child));
    return child;
  }

  /** Starts an agent with a fresh token and work dir, and resolves once it listens (its browser may still start). */
  async start(launch: AgentLaunch = {}): Promise<StartedAgent> {
    const token = randomBytes(24).toString('hex');
    const workDir = join(this.scratch, randomBytes(4).toString('hex'));
    const child = this.spawn(
      {
        ...launch.env,
        [AGENT_ENV.token]: token,
        [AGENT_ENV.workDir]: workDir,
        ...(launch.runtimeId === undefined ? {} : { [AGENT_ENV.runtimeId]: launch.runtimeId }),
        ...(launch.config === undefined ? {} : { [AGENT_ENV.launchConfig]: JSON.stringify(launch.config) }),
      },
      ['ignore', 'pipe', launch.stderr ?? 'inherit'],
    );
    const exit = new Promise<AgentExit>((done) => child.once('exit', (code, signal) => done({ code, signal })));
    const lines: Record<string, unknown>[] = [];
    const port = await new Promise<number>((done, fail) => {
      let buffered = '';
      child.stdout?.on('data', (chunk: Buffer) => {
        buffered += chunk.toString();
        const parts = buffered.split('\n');
        buffered = parts.pop() ?? '';
        for (const line of parts) {
          const event = JSON.parse(line) as Record<string, unknown>;
          lines.push(event);
          if (event['event'] === 'listening') done(event['port'] as number);
        }
      });
      void exit.then(() => fail(new Error('agent exited before listening')));
    });
    return { child, token, workDir, url: `http://127.0.0.1:${port}`, lines, exit };
  }

  /** Live processes carrying this spec's marker or a user-data-dir under its scratch dir. */
  leftovers(): string[] {
    return readdirSync('/proc')
      .filter((entry) => /^\d+$/.test(entry) && Number(entry) !== process.pid && pidAlive(Number(entry)))
      .map((pid) => {
        try {
          return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
        } catch {
          return '';
        }
      })
      .filter((cmd) => cmd.includes(this.instance) || cmd.includes(`--user-data-dir=${this.scratch}`));
  }

  /**
   * For afterAll: stops the agents still running (only after a failed test; SIGTERM lets each take its Chromium
   * process group down with it), removes the scratch dir, and returns what was left behind.
   */
  async tearDown(): Promise<string[]> {
    for (const child of this.running) child.kill('SIGTERM');
    await Promise.race([
      Promise.all([...this.running].map((child) => new Promise((done) => child.once('exit', done)))),
      new Promise((done) => setTimeout(done, 5000).unref()),
    ]);
    await new Promise((done) => setTimeout(done, 300));
    const left = this.leftovers();
    rmSync(this.scratch, { recursive: true, force: true });
    return left;
  }
}
