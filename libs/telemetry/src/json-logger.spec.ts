import { Logger } from '@nestjs/common';
import { trace } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { JsonLogger, log } from './json-logger';
import { isSecretKey, REDACTED } from './redact';
import { startTelemetry, TelemetryHandle } from './start-telemetry';

const API_KEY = 'bctrl_live_Zx8fK2mQ9pLr4TnV7wYb3cHd';

function capture(options: ConstructorParameters<typeof JsonLogger>[0] = {}) {
  const lines: string[] = [];
  const logger = new JsonLogger({
    service: 'spaces',
    level: 'debug',
    ...options,
    write: (line) => lines.push(line),
  });
  const records = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  return { logger, lines, records };
}

describe('JsonLogger', () => {
  let telemetry: TelemetryHandle;

  beforeAll(() => {
    telemetry = startTelemetry({
      serviceName: 'spaces',
      exporter: new InMemorySpanExporter(),
      env: {},
    });
  });

  afterAll(async () => {
    await telemetry.shutdown();
  });

  it('writes one JSON object per line with the active trace and span ids', () => {
    const { logger, lines, records } = capture({ context: 'SpacesService' });
    const ids = trace.getTracer('test').startActiveSpan('op', (span) => {
      logger.log('space created', { spaceId: 'sp_1' });
      span.end();
      return span.spanContext();
    });
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toContain('\n');
    const [record] = records();
    expect(record).toMatchObject({
      level: 'info',
      service: 'spaces',
      context: 'SpacesService',
      msg: 'space created',
      spaceId: 'sp_1',
      trace_id: ids.traceId,
      span_id: ids.spanId,
    });
    expect(new Date(record.time as string).toISOString()).toBe(record.time);
  });

  it('omits trace ids outside a span', () => {
    const { logger, records } = capture();
    logger.log('idle');
    expect(records()[0].trace_id).toBeUndefined();
  });

  it('takes the context from Nest Logger calls and the stack from error calls', () => {
    const { logger, records } = capture();
    Logger.overrideLogger(logger);
    try {
      new Logger('SpacesService').log('space created');
      new Logger('ExceptionsHandler').error('boom', 'Error: boom\n    at handler (x.ts:1:1)');
    } finally {
      Logger.overrideLogger(false);
    }
    expect(records()).toMatchObject([
      { level: 'info', context: 'SpacesService', msg: 'space created' },
      {
        level: 'error',
        context: 'ExceptionsHandler',
        msg: 'boom',
        stack: 'Error: boom\n    at handler (x.ts:1:1)',
      },
    ]);
  });

  it("writes Nest's start-up wiring (modules, controllers, routes) at debug, and its lifecycle lines at info", () => {
    const { logger, records } = capture();
    Logger.overrideLogger(logger);
    try {
      new Logger('InstanceLoader').log('GatewayModule dependencies initialized');
      new Logger('RoutesResolver').log('SpacesController {/v1/spaces}:');
      new Logger('RouterExplorer').log('Mapped {/v1/spaces, GET} route');
      new Logger('RouterExplorer').warn('a duplicate route');
      new Logger('NestApplication').log('Nest application successfully started');
    } finally {
      Logger.overrideLogger(false);
    }
    expect(records().map(({ level, context }) => [level, context])).toEqual([
      ['debug', 'InstanceLoader'],
      ['debug', 'RoutesResolver'],
      ['debug', 'RouterExplorer'],
      ['warn', 'RouterExplorer'],
      ['info', 'NestApplication'],
    ]);
  });

  it('filters by level', () => {
    const { logger, records } = capture({ level: 'warn' });
    logger.debug('d');
    logger.log('i');
    logger.warn('w');
    logger.error('e');
    expect(records().map((record) => record.level)).toEqual(['warn', 'error']);
  });

  it('reads the level from LOG_LEVEL', () => {
    const previous = process.env.LOG_LEVEL;
    process.env.LOG_LEVEL = 'error';
    try {
      const lines: string[] = [];
      const logger = new JsonLogger({ write: (line) => lines.push(line) });
      logger.warn('hidden');
      logger.error('shown');
      expect(lines.map((line) => JSON.parse(line).msg)).toEqual(['shown']);
    } finally {
      if (previous === undefined) delete process.env.LOG_LEVEL;
      else process.env.LOG_LEVEL = previous;
    }
  });

  it('redacts secret keys at any depth', () => {
    const { logger, lines, records } = capture();
    logger.log('request', {
      headers: {
        authorization: 'Bearer abc.def',
        cookie: 'sid=xyz',
        'x-api-key': 'k-123',
      },
      password: 'hunter2',
      body: {
        apiKey: 'k-456',
        client_secret: 's-789',
        nested: [{ accessToken: 't-000' }],
      },
      tokenCount: 42,
      maxTokens: 1000,
    });
    const text = lines.join('\n');
    for (const secret of ['abc.def', 'sid=xyz', 'k-123', 'hunter2', 'k-456', 's-789', 't-000']) {
      expect(text).not.toContain(secret);
    }
    expect(records()[0]).toMatchObject({
      headers: {
        authorization: REDACTED,
        cookie: REDACTED,
        'x-api-key': REDACTED,
      },
      password: REDACTED,
      body: {
        apiKey: REDACTED,
        client_secret: REDACTED,
        nested: [{ accessToken: REDACTED }],
      },
      tokenCount: 42,
      maxTokens: 1000,
    });
  });

  it('redacts API keys, bearer tokens and URL passwords inside strings', () => {
    const { logger, lines, records } = capture();
    logger.warn(`rejected key ${API_KEY}`, {
      note: `header was Bearer ${API_KEY}`,
      db: 'postgres://bctrl:pg-pass-1@db:5432/bctrl',
      spaceId: 'bctrl_sp_123',
    });
    logger.error(new Error(`auth failed for ${API_KEY}`));
    const text = lines.join('\n');
    expect(text).not.toContain(API_KEY);
    expect(text).not.toContain('pg-pass-1');
    const [warn, error] = records();
    expect(warn).toMatchObject({
      msg: `rejected key ${REDACTED}`,
      note: `header was Bearer ${REDACTED}`,
      db: `postgres://bctrl:${REDACTED}@db:5432/bctrl`,
      spaceId: 'bctrl_sp_123',
    });
    expect(error).toMatchObject({
      msg: `auth failed for ${REDACTED}`,
      err: { name: 'Error' },
    });
    expect((error.err as { stack: string }).stack).toContain(REDACTED);
  });

  it('survives circular and odd values', () => {
    const { logger, records } = capture();
    const loop: Record<string, unknown> = { name: 'loop' };
    loop.self = loop;
    logger.log('odd', { loop, big: 10n, when: new Date(0) });
    expect(records()[0]).toMatchObject({
      loop: { name: 'loop', self: '[Circular]' },
      big: '10',
      when: '1970-01-01T00:00:00.000Z',
    });
  });

  it('keeps core fields from being overwritten by caller fields', () => {
    const { logger, records } = capture();
    logger.log('real', { msg: 'fake', level: 'error', trace_id: 'x' });
    expect(records()[0]).toMatchObject({ msg: 'real', level: 'info' });
    expect(records()[0].trace_id).toBeUndefined();
  });
});

describe('log', () => {
  it('writes a JSON line to stdout with the given fields, redacted', () => {
    const write = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      log('error', 'driver failed', {
        runtimeId: 'rt_1',
        token: 'lease-secret',
      });
      const line = String(write.mock.calls[0][0]);
      expect(line.endsWith('\n')).toBe(true);
      expect(JSON.parse(line)).toMatchObject({
        level: 'error',
        msg: 'driver failed',
        runtimeId: 'rt_1',
        token: REDACTED,
      });
    } finally {
      write.mockRestore();
    }
  });
});

describe('isSecretKey', () => {
  it.each([
    'authorization',
    'Authorization',
    'password',
    'dbPassword',
    'secret',
    'clientSecret',
    'token',
    'leaseToken',
    'apiKey',
    'api_key',
    'X-Api-Key',
    'cookie',
    'set-cookie',
    'secretAccessKey',
    'S3_SECRET_ACCESS_KEY',
  ])('treats %s as secret', (key) => expect(isSecretKey(key)).toBe(true));
  it.each(['tokenCount', 'maxTokens', 'spaceId', 'accessKeyId', 'secretName', 'value', 'keys'])(
    'treats %s as safe',
    (key) => expect(isSecretKey(key)).toBe(false),
  );
});
