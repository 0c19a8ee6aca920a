import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, RunningServer, spawnServer, stopProcess } from './process';

/** nats-server with JetStream, its store in a temp dir that is removed on stop. */
export async function startNats(): Promise<RunningServer> {
  const port = await freePort();
  const storeDir = await mkdtemp(join(tmpdir(), 'bctrl-nats-'));
  const child = await spawnServer(
    'nats-server',
    process.env.NATS_SERVER_BIN ?? 'nats-server',
    ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir],
    /Server is ready/,
  );
  return {
    url: `nats://127.0.0.1:${port}`,
    stop: async () => {
      await stopProcess(child);
      await rm(storeDir, { recursive: true, force: true });
    },
  };
}
