import { type ChildProcess, spawn } from 'node:child_process';
import { freePort } from '@bctrl/testing';
import { testInstallationId } from './browsers';
import { REPO_ROOT } from './platform';

/** `npm start` runs exactly this; the local-process spec pins it so the two cannot drift apart. */
export const START_ARGS = ['-r', '@swc-node/register', 'apps/local/src/main.ts'];

export interface Started {
  child: ChildProcess;
  url: string;
  output: () => string;
}

/** One installation id per data dir, as a user's install keeps: a restart must find its own browsers. */
const installations = new Map<string, string>();

/**
 * Local mode as a user runs it, in its own process on `dataDir`, once its banner is out and /readyz answers (or it
 * failed, saying why). `detached`: its own process group, as in a terminal, so a kill of the pid alone is a crash.
 */
export async function startNpmStart(
  dataDir: string,
  env: NodeJS.ProcessEnv = {},
  options: { detached?: boolean } = {},
): Promise<Started> {
  const port = env.BCTRL_PORT ? Number(env.BCTRL_PORT) : await freePort();
  if (!installations.has(dataDir)) installations.set(dataDir, testInstallationId('npm-start'));
  const child = spawn(process.execPath, START_ARGS, {
    cwd: REPO_ROOT,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      ...(process.env.CHROME_PATH ? { CHROME_PATH: process.env.CHROME_PATH } : {}),
      BCTRL_DATA_DIR: dataDir,
      BCTRL_INSTALLATION_ID: installations.get(dataDir),
      BCTRL_PORT: String(port),
      LOG_LEVEL: 'warn',
      ...env,
    },
    detached: options.detached ?? false,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 120_000;
  // Ready once it says so (the admin key exists from then on) and answers /readyz.
  while (!out.includes('BCTRL is running') || (await fetch(`${url}/readyz`).catch(() => null))?.status !== 200) {
    if (child.exitCode !== null) throw new Error(`npm start exited with ${child.exitCode}:\n${out}`);
    if (Date.now() > deadline) throw new Error(`npm start did not come up:\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, url, output: () => out };
}

/** Ctrl-C, as a user stops it; SIGKILL if it has not ended 20 s later. Resolves with the exit code. */
export async function interrupt(started: Started): Promise<number | null> {
  if (started.child.exitCode !== null || started.child.signalCode !== null) return started.child.exitCode;
  const code = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => started.child.kill('SIGKILL'), 20_000);
    started.child.once('exit', (exitCode) => {
      clearTimeout(timer);
      resolve(exitCode);
    });
    started.child.kill('SIGINT');
  });
  if (code !== 0) process.stderr.write(`npm start exited with ${code}:\n${started.output()}\n`);
  return code;
}
