import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const TEST_CHROME_PATH = process.env['CHROME_PATH'] ?? '/usr/lib/chromium/chromium';
const LISTENING = /DevTools listening on (ws:\/\/\S+)/;

/** A bare Chromium a test talks CDP to, with no platform around it. */
export interface TestChromium {
  child: ChildProcess;
  /** The browser endpoint, e.g. ws://127.0.0.1:PORT/devtools/browser/ID */
  browserUrl: string;
  /** ws://127.0.0.1:PORT */
  origin: string;
  userDataDir: string;
  stop(): Promise<void>;
}

/**
 * Debian's Chromium, headless, CDP on a loopback port. `name` goes into its user-data dir and an instance marker, by
 * which the jest global teardown finds a browser a test failed to stop.
 */
export function launchTestChromium(name: string): Promise<TestChromium> {
  const userDataDir = mkdtempSync(join(tmpdir(), `bctrl-browsers-${name}-`));
  const marker = `--bctrl-instance=jest-${process.env['BCTRL_TEST_RUN_STARTED_AT'] ?? 'adhoc'}-${name}`;
  const child = spawn(
    TEST_CHROME_PATH,
    [
      '--headless=new',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-breakpad',
      '--disable-background-networking',
      '--remote-debugging-address=127.0.0.1',
      '--remote-debugging-port=0',
      `--user-data-dir=${userDataDir}`,
      marker,
      'about:blank',
    ],
    { detached: true, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      try {
        // The whole process group: renderers and zygotes too.
        process.kill(-(child.pid as number), 'SIGKILL');
      } catch {
        // already gone
      }
      await exited;
    }
    rmSync(userDataDir, { recursive: true, force: true });
  };
  return new Promise((resolve, reject) => {
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const match = LISTENING.exec(stderr);
      if (match) {
        const browserUrl = match[1] as string;
        resolve({ child, browserUrl, origin: new URL(browserUrl).origin.replace('http', 'ws'), userDataDir, stop });
      } else if (stderr.length > 100_000) stderr = stderr.slice(-10_000);
    });
    child.once('exit', (code, signal) =>
      reject(new Error(`Chromium exited before listening (${code ?? signal}): ${stderr.slice(-2000)}`)),
    );
    child.once('error', reject);
  });
}
