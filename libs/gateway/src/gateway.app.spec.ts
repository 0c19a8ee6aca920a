import { Module } from '@nestjs/common';
import { PlatformModule } from '@bctrl/service';
import { JsonLogger, type LogLevel } from '@bctrl/telemetry';
import { InProcessTransport } from '@bctrl/transport';
import { createGatewayApp } from './gateway.app';
import { GatewayModule } from './gateway.module';
import { InMemoryIdempotencyStore } from './idempotency/idempotency.store';
import { UnlimitedRateLimiter } from './rate-limit/rate-limiter';

/** Starts the gateway app (the module graph every mode serves) with a JSON logger at `level`; its lines. */
async function startUpLines(level: LogLevel): Promise<string[]> {
  const lines: string[] = [];
  const transport = new InProcessTransport();
  @Module({
    imports: [
      PlatformModule.forRoot({ services: ['gateway'], transport }),
      GatewayModule.forRoot({
        idempotencyStore: new InMemoryIdempotencyStore(),
        rateLimiter: new UnlimitedRateLimiter(),
        publicUrl: { value: 'http://localhost:8080' },
      }),
    ],
  })
  class StartUpModule {}
  const app = await createGatewayApp(StartUpModule, {
    maxBodyBytes: 1024,
    publicUrl: 'http://localhost:8080',
    logger: new JsonLogger({ service: 'gateway', level, write: (line) => lines.push(line) }),
    shutdownHooks: false,
  });
  try {
    await app.listen(0, '127.0.0.1');
  } finally {
    await app.close();
  }
  return lines;
}

describe('gateway start-up logging', () => {
  it('writes no route mapping lines at info, and writes them at debug', async () => {
    const info = await startUpLines('info');
    expect(info.filter((line) => line.includes('Mapped {'))).toEqual([]);
    // What stays at info is Nest's own start and finish, not a line per module or route.
    expect(info.map((line) => (JSON.parse(line) as { context: string }).context)).toEqual([
      'NestFactory',
      'NestApplication',
    ]);

    const debug = await startUpLines('debug');
    const mapped = debug.filter((line) => line.includes('Mapped {'));
    expect(mapped.length).toBeGreaterThan(20);
    expect(mapped.every((line) => (JSON.parse(line) as { level: string }).level === 'debug')).toBe(true);
  });
});
