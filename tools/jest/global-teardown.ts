import { chromiumsOfThisRun } from '../../e2e/browsers';

/**
 * Stops the servers the run started, then checks the promise every browser test makes: no Chromium that a
 * BCTRL driver started is still running. Any that is gets killed and fails the run, listed by command line.
 */
export default async function globalTeardown(): Promise<void> {
  const servers = globalThis.__BCTRL_TEST_SERVERS__ ?? [];
  await Promise.all(servers.map((server) => server.stop()));
  // Only this run's browsers (their installation ids share the run's prefix): a developer's own `npm start`
  // or another run may have Chromiums of their own.
  const ours = chromiumsOfThisRun;
  // Give browsers whose stop was the last thing a test did a moment to exit.
  let left = ours();
  for (let i = 0; i < 30 && left.length > 0; i += 1) {
    await new Promise((r) => setTimeout(r, 100));
    left = ours();
  }
  if (left.length > 0) {
    for (const proc of left) {
      try {
        process.kill(proc.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    throw new Error(
      `Chromium processes left running after the tests:\n${left.map((p) => `${p.pid} ${p.argv.join(' ')}`).join('\n')}`,
    );
  }
}
