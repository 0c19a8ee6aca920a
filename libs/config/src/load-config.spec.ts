import { z } from 'zod';
import { describeConfig, REDACTED, redactUrl, renderSettingsTable } from './describe-config';
import { ConfigError, loadConfig } from './load-config';
import { envBoolean, envBytes, envPort } from './schemas';
import { defineSetting, pickSettings } from './setting';
import { PlatformConfig, platformSettings } from './settings';

const DB_PASSWORD = 'hunter2-db-password';
const REDIS_PASSWORD = 's3cr3t-redis-pw';
const S3_SECRET = 'wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY';
const BOOTSTRAP_KEY = 'bctrl_live_0123456789abcdefghijkl';
const VAULT_KEYS = `k1:${Buffer.alloc(32, 1).toString('base64')}`;

const distributedEnv = {
  BCTRL_MODE: 'distributed',
  DATABASE_URL: `postgres://bctrl:${DB_PASSWORD}@db.internal:5432/bctrl`,
  REDIS_URL: `redis://:${REDIS_PASSWORD}@redis.internal:6379/0`,
  NATS_URL: 'nats://nats.internal:4222',
  S3_BUCKET: 'bctrl',
  S3_ACCESS_KEY_ID: 'AKIAEXAMPLE',
  S3_SECRET_ACCESS_KEY: S3_SECRET,
  BCTRL_BOOTSTRAP_API_KEY: BOOTSTRAP_KEY,
  BCTRL_VAULT_KEYS: VAULT_KEYS,
};

function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('applies defaults for local mode with an empty environment', () => {
    const config: PlatformConfig = loadConfig(platformSettings, {});
    expect(config).toMatchObject({
      mode: 'local',
      port: 8080,
      host: '127.0.0.1',
      publicUrl: 'http://localhost:8080',
      dataDir: './.bctrl',
      healthPort: 8081,
      maxBodyBytes: 1048576,
      objectStore: 'fs',
      s3ForcePathStyle: false,
      logLevel: 'info',
      chromePath: '/usr/lib/chromium/chromium',
    });
    expect(config.databaseUrl).toBeUndefined();
    expect(config.bootstrapApiKey).toBeUndefined();
  });

  it('derives defaults from other settings', () => {
    const config = loadConfig(platformSettings, {
      ...distributedEnv,
      BCTRL_PORT: '9000',
    });
    expect(config.host).toBe('0.0.0.0');
    expect(config.objectStore).toBe('s3');
    expect(config.publicUrl).toBe('http://localhost:9000');
  });

  it('coerces numbers, booleans and byte sizes from strings', () => {
    const config = loadConfig(platformSettings, {
      BCTRL_PORT: '3000',
      BCTRL_HEALTH_PORT: '0',
      S3_FORCE_PATH_STYLE: 'true',
      BCTRL_MAX_BODY_BYTES: '2mib',
    });
    expect(config.port).toBe(3000);
    expect(config.healthPort).toBe(0);
    expect(config.s3ForcePathStyle).toBe(true);
    expect(config.maxBodyBytes).toBe(2 * 1024 * 1024);

    const flags = {
      flag: defineSetting({
        env: 'F',
        schema: envBoolean(),
        default: true,
        group: 'g',
        description: 'd',
        sensitive: false,
      }),
    };
    expect(loadConfig(flags, { F: 'false' }).flag).toBe(false);
    expect(loadConfig(flags, { F: '0' }).flag).toBe(false);
    expect(loadConfig(flags, { F: 'YES' }).flag).toBe(true);
    expect(loadConfig(flags, { F: '' }).flag).toBe(true);
  });

  it('lists every bad or missing variable in one error', () => {
    const error = configError(() =>
      loadConfig(platformSettings, {
        BCTRL_MODE: 'distributed',
        BCTRL_PORT: 'eighty',
        BCTRL_HEALTH_PORT: '70000',
        S3_FORCE_PATH_STYLE: 'maybe',
        LOG_LEVEL: 'verbose',
        BCTRL_MAX_BODY_BYTES: '-1',
        BCTRL_PUBLIC_URL: 'not a url',
      }),
    );
    expect(error.issues.map((issue) => issue.env).sort()).toEqual(
      [
        'BCTRL_PORT',
        'BCTRL_HEALTH_PORT',
        'S3_FORCE_PATH_STYLE',
        'LOG_LEVEL',
        'BCTRL_MAX_BODY_BYTES',
        'BCTRL_PUBLIC_URL',
        'DATABASE_URL',
        'REDIS_URL',
        'NATS_URL',
        'S3_BUCKET',
        'S3_ACCESS_KEY_ID',
        'S3_SECRET_ACCESS_KEY',
        'BCTRL_VAULT_KEYS',
      ].sort(),
    );
    for (const issue of error.issues) expect(error.message).toContain(`${issue.env}: ${issue.message}`);
    expect(error.message).toMatch(/BCTRL_PORT: expected an integer from 0 to 65535/);
    expect(error.message).toMatch(/LOG_LEVEL: expected one of debug, info, warn, error/);
    expect(error.message).toMatch(/DATABASE_URL: required when BCTRL_MODE is distributed/);
    expect(error.message).toMatch(/S3_BUCKET: required when BCTRL_OBJECT_STORE is s3/);
  });

  it('requires S3 settings only when the object store is s3', () => {
    expect(() => loadConfig(platformSettings, { BCTRL_OBJECT_STORE: 'fs' })).not.toThrow();
    const error = configError(() =>
      loadConfig(platformSettings, {
        BCTRL_OBJECT_STORE: 's3',
        S3_BUCKET: 'b',
      }),
    );
    expect(error.issues.map((issue) => issue.env).sort()).toEqual(['S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY']);
  });

  it('requires backing-service URLs only in distributed mode', () => {
    expect(loadConfig(platformSettings, { BCTRL_MODE: 'local' }).natsUrl).toBeUndefined();
    const config = loadConfig(platformSettings, distributedEnv);
    expect(config.natsUrl).toBe('nats://nats.internal:4222');
    expect(config.databaseUrl).toBe(distributedEnv.DATABASE_URL);
  });

  it('evaluates a condition against a controlling setting that was not picked', () => {
    const storeOnly = pickSettings(platformSettings, 's3Bucket');
    expect(loadConfig(storeOnly, {}).s3Bucket).toBeUndefined();
    expect(configError(() => loadConfig(storeOnly, { BCTRL_MODE: 'distributed' })).issues).toEqual([
      { env: 'S3_BUCKET', message: 'required when BCTRL_OBJECT_STORE is s3' },
    ]);
  });

  it('reports a required setting without a default as missing', () => {
    const table = {
      apiPort: defineSetting({
        env: 'API_PORT',
        schema: envPort(),
        group: 'g',
        description: 'd',
        sensitive: false,
      }),
      size: defineSetting({
        env: 'SIZE',
        schema: envBytes(),
        group: 'g',
        description: 'd',
        sensitive: false,
      }),
    };
    expect(configError(() => loadConfig(table, {})).issues).toEqual([
      { env: 'API_PORT', message: 'required' },
      { env: 'SIZE', message: 'required' },
    ]);
  });

  it('never puts a sensitive value in the error, even when the schema echoes it', () => {
    const echoing = {
      token: defineSetting({
        env: 'SOME_TOKEN',
        schema: z.string().refine(
          (value) => value.length > 100,
          (value) => ({ message: `too short: ${value}` }),
        ),
        group: 'g',
        description: 'd',
        sensitive: true,
      }),
    };
    const secret = 'abc-very-secret-token';
    const echoed = configError(() => loadConfig(echoing, { SOME_TOKEN: secret }));
    expect(echoed.message).toContain('SOME_TOKEN: too short: [REDACTED]');
    expect(echoed.message).not.toContain(secret);

    const badUrls = configError(() =>
      loadConfig(platformSettings, {
        ...distributedEnv,
        DATABASE_URL: `mysql://root:${DB_PASSWORD}@db/bctrl`,
        REDIS_URL: `${REDIS_PASSWORD} not a url`,
      }),
    );
    expect(badUrls.issues.map((issue) => issue.env)).toEqual(['DATABASE_URL', 'REDIS_URL']);
    expect(badUrls.message).not.toContain(DB_PASSWORD);
    expect(badUrls.message).not.toContain(REDIS_PASSWORD);
    expect(JSON.stringify(badUrls.issues)).not.toContain(DB_PASSWORD);
  });
});

describe('describeConfig', () => {
  it('hides sensitive values and URL passwords but keeps what operators need', () => {
    const config = loadConfig(platformSettings, {
      ...distributedEnv,
      NATS_URL: 'nats://user:nats-pass-xyz@nats.internal:4222',
      S3_ENDPOINT: 'https://minio.internal:9000',
    });
    const described = describeConfig(config, platformSettings);
    const text = JSON.stringify(described);
    for (const secret of [DB_PASSWORD, REDIS_PASSWORD, S3_SECRET, BOOTSTRAP_KEY, VAULT_KEYS, 'nats-pass-xyz']) {
      expect(text).not.toContain(secret);
    }
    expect(described).toMatchObject({
      BCTRL_MODE: 'distributed',
      BCTRL_PORT: 8080,
      DATABASE_URL: `postgres://bctrl:${REDACTED}@db.internal:5432/bctrl`,
      REDIS_URL: `redis://:${REDACTED}@redis.internal:6379/0`,
      NATS_URL: `nats://user:${REDACTED}@nats.internal:4222`,
      S3_SECRET_ACCESS_KEY: REDACTED,
      BCTRL_BOOTSTRAP_API_KEY: REDACTED,
      BCTRL_VAULT_KEYS: REDACTED,
      S3_ENDPOINT: 'https://minio.internal:9000',
      S3_ACCESS_KEY_ID: 'AKIAEXAMPLE',
    });
  });

  it('hides a sensitive URL whole when it has no password to cut out', () => {
    const config = loadConfig(platformSettings, {
      ...distributedEnv,
      DATABASE_URL: 'postgres://db.internal/bctrl?password=pw123',
    });
    expect(describeConfig(config, platformSettings).DATABASE_URL).toBe(
      `postgres://db.internal/bctrl?password=${REDACTED}`,
    );
    const plain = loadConfig(platformSettings, {
      ...distributedEnv,
      REDIS_URL: 'redis://redis.internal:6379',
    });
    expect(describeConfig(plain, platformSettings).REDIS_URL).toBe(REDACTED);
  });
});

describe('redactUrl', () => {
  it('leaves non-URLs and URLs without credentials untouched', () => {
    expect(redactUrl('./.bctrl')).toBe('./.bctrl');
    expect(redactUrl('http://localhost:8080')).toBe('http://localhost:8080');
  });
});

describe('renderSettingsTable', () => {
  it('renders one Markdown row per setting with default, group and conditions', () => {
    const table = renderSettingsTable(platformSettings);
    const lines = table.trim().split('\n');
    expect(lines[0]).toBe('| Name | Default | Group | Description |');
    expect(lines).toHaveLength(2 + Object.keys(platformSettings).length);
    expect(table).toContain('| `BCTRL_PORT` | `8080` | General | HTTP port of the gateway (the public API). |');
    expect(table).toMatch(/\| `S3_BUCKET` \| — \| Object store \| .*Required when `BCTRL_OBJECT_STORE` is `s3`\./);
    expect(table).toMatch(/\| `DATABASE_URL` \|.*Sensitive: never logged\./);
    expect(table).toContain('`127.0.0.1` in local mode, `0.0.0.0` in distributed mode');
  });
});
