import { spawnApp } from './platform';

/** Runs a built app with the given environment until it exits, collecting what it printed. */
function runToExit(app: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawnApp(app, env);
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('distributed apps refuse to boot on bad configuration', () => {
  it('lists every bad or missing variable at once, and never prints a secret', async () => {
    const { code, output } = await runToExit('gateway', {
      BCTRL_PORT: 'eighty',
      DATABASE_URL: 'postgres://bctrl:hunter2-secret@db.internal:5432/bctrl',
      S3_SECRET_ACCESS_KEY: 'aws-secret-value',
      LOG_LEVEL: 'loud',
    });
    expect(code).not.toBe(0);
    for (const name of ['BCTRL_PORT', 'NATS_URL', 'REDIS_URL', 'LOG_LEVEL', 'S3_BUCKET'])
      expect(output).toContain(name);
    expect(output).not.toContain('hunter2-secret');
    expect(output).not.toContain('aws-secret-value');
  });

  it('fails the spaces service the same way when its database is missing', async () => {
    const { code, output } = await runToExit('spaces', {
      NATS_URL: 'nats://127.0.0.1:1',
      REDIS_URL: 'redis://127.0.0.1:1',
    });
    expect(code).not.toBe(0);
    expect(output).toContain('DATABASE_URL');
  });
});
