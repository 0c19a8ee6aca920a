import { freePort, RunningServer, spawnServer, stopProcess } from './process';

export async function startRedis(): Promise<RunningServer> {
  const port = await freePort();
  const child = await spawnServer(
    'redis-server',
    process.env.REDIS_SERVER_BIN ?? 'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    /Ready to accept connections/,
  );
  return { url: `redis://127.0.0.1:${port}`, stop: () => stopProcess(child) };
}
