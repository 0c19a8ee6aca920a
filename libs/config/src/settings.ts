import { z } from 'zod';
import { envBoolean, envBytes, envEnum, envInteger, envPort, envString, envUrl } from './schemas';
import { ConfigOf, defineSetting, pickSettings } from './setting';

// One table for the whole platform: local mode composes every service in one process, so names and defaults
// must agree everywhere. Services load the subset they use with `pickSettings`. To add a setting, declare it
// here and regenerate the README table with `renderSettingsTable(platformSettings)`.

const mode = defineSetting({
  env: 'BCTRL_MODE',
  schema: envEnum(['local', 'distributed'] as const),
  default: 'local',
  group: 'General',
  description:
    '`local` runs every service in one process with embedded adapters; `distributed` runs one service per process against NATS, Redis, Postgres and S3.',
  sensitive: false,
});

const port = defineSetting({
  env: 'BCTRL_PORT',
  schema: envPort(),
  default: 8080,
  group: 'General',
  description: 'HTTP port of the gateway (the public API).',
  sensitive: false,
});

const host = defineSetting({
  env: 'BCTRL_HOST',
  schema: envString(),
  // Local mode usually runs on a workstation, where listening on every interface would expose an unauthenticated
  // bootstrap to the LAN; in distributed mode the process runs in a container that must accept traffic from outside.
  default: (read) => (read(mode) === 'distributed' ? '0.0.0.0' : '127.0.0.1'),
  defaultDoc: '`127.0.0.1` in local mode, `0.0.0.0` in distributed mode',
  group: 'General',
  description: 'Interface the HTTP servers listen on.',
  sensitive: false,
});

const publicUrl = defineSetting({
  env: 'BCTRL_PUBLIC_URL',
  schema: envUrl(['http', 'https']),
  default: (read) => `http://localhost:${read(port)}`,
  defaultDoc: '`http://localhost:<BCTRL_PORT>`',
  group: 'General',
  description: 'Base URL tenants use to reach the gateway; used to build `wsUrl`, live-view and presigned links.',
  sensitive: false,
});

const dataDir = defineSetting({
  env: 'BCTRL_DATA_DIR',
  schema: envString(),
  default: './.bctrl',
  group: 'General',
  description: 'Directory for local-mode state: embedded Postgres data, the filesystem object store, browser profiles.',
  sensitive: false,
});

const workspaceRoot = defineSetting({
  env: 'BCTRL_WORKSPACE_ROOT',
  schema: envString(),
  default: () => process.cwd(),
  defaultDoc: 'the working directory',
  group: 'General',
  description:
    "Where a service finds what ships beside its code: the services' database migrations and the built browser-runtime the local-process driver starts.",
  sensitive: false,
});

const bootstrapApiKey = defineSetting({
  env: 'BCTRL_BOOTSTRAP_API_KEY',
  schema: envString().optional(),
  group: 'General',
  description:
    'If set, an admin API key with this value is created on first boot, so automation can start without a manual step.',
  sensitive: true,
});

const vaultKeys = defineSetting({
  env: 'BCTRL_VAULT_KEYS',
  schema: envString().optional(),
  requiredWhen: { setting: mode, is: 'distributed' },
  group: 'General',
  description:
    "The vault's key-encryption keys: `id:base64` entries (32 bytes each) separated by commas; the first encrypts, all decrypt. Put a new key first, run `npm run vault:rewrap`, then drop the old one. Local mode creates one in the data dir when unset.",
  sensitive: true,
});

const healthPort = defineSetting({
  env: 'BCTRL_HEALTH_PORT',
  schema: envPort(),
  // A fixed port because Kubernetes probes and the chart must know it; local mode serves health on the gateway.
  default: 8081,
  group: 'General',
  description: 'Port of the per-service health/readiness HTTP endpoint in distributed mode (unused in local mode).',
  sensitive: false,
});

const maxBodyBytes = defineSetting({
  env: 'BCTRL_MAX_BODY_BYTES',
  schema: envBytes(),
  default: 1024 * 1024,
  defaultDoc: '`1048576` (1 MiB)',
  group: 'General',
  description: 'Largest JSON request body the gateway accepts; accepts plain bytes or units such as `512kib`, `2mb`.',
  sensitive: false,
});

const rateLimitPerSecond = defineSetting({
  env: 'BCTRL_RATE_LIMIT_PER_SECOND',
  schema: envInteger(0, 1_000_000),
  default: 100,
  group: 'General',
  description:
    'Requests each API key may make per second before the gateway answers 429 `rate_limited` with `Retry-After`; `0` turns the limit off.',
  sensitive: false,
});

const databaseUrl = defineSetting({
  env: 'DATABASE_URL',
  schema: envUrl(['postgres', 'postgresql']),
  requiredWhen: { setting: mode, is: 'distributed' },
  group: 'Backing services',
  description: 'Postgres connection URL. Local mode starts an embedded Postgres instead.',
  sensitive: true,
});

const redisUrl = defineSetting({
  env: 'REDIS_URL',
  schema: envUrl(['redis', 'rediss']),
  requiredWhen: { setting: mode, is: 'distributed' },
  group: 'Backing services',
  description: 'Redis URL for leases and revocations. Local mode keeps them in memory.',
  sensitive: true,
});

const natsUrl = defineSetting({
  env: 'NATS_URL',
  schema: envString(),
  requiredWhen: { setting: mode, is: 'distributed' },
  group: 'Backing services',
  description: 'NATS server URL(s), comma-separated, with JetStream enabled. Local mode uses an in-process transport.',
  sensitive: false,
});

const objectStore = defineSetting({
  env: 'BCTRL_OBJECT_STORE',
  schema: envEnum(['fs', 's3'] as const),
  // Pods of one service do not share a filesystem, so distributed mode needs S3 unless told otherwise.
  default: (read) => (read(mode) === 'distributed' ? 's3' : 'fs'),
  defaultDoc: '`fs` in local mode, `s3` in distributed mode',
  group: 'Object store',
  description:
    'Where space storage, artifacts and recordings live: `fs` under `BCTRL_DATA_DIR`, or an S3-compatible store.',
  sensitive: false,
});

const s3Endpoint = defineSetting({
  env: 'S3_ENDPOINT',
  schema: envUrl(['http', 'https']).optional(),
  group: 'Object store',
  description: 'S3 endpoint URL for MinIO, R2 and other S3-compatible stores; leave unset for AWS S3.',
  sensitive: false,
});

const s3Region = defineSetting({
  env: 'S3_REGION',
  schema: envString(),
  requiredWhen: { setting: objectStore, is: 's3' },
  default: 'us-east-1',
  group: 'Object store',
  description: 'S3 region.',
  sensitive: false,
});

const s3Bucket = defineSetting({
  env: 'S3_BUCKET',
  schema: envString(),
  requiredWhen: { setting: objectStore, is: 's3' },
  group: 'Object store',
  description: 'S3 bucket holding all objects.',
  sensitive: false,
});

const s3AccessKeyId = defineSetting({
  env: 'S3_ACCESS_KEY_ID',
  schema: envString(),
  requiredWhen: { setting: objectStore, is: 's3' },
  group: 'Object store',
  description: 'S3 access key id.',
  sensitive: false,
});

const s3SecretAccessKey = defineSetting({
  env: 'S3_SECRET_ACCESS_KEY',
  schema: envString(),
  requiredWhen: { setting: objectStore, is: 's3' },
  group: 'Object store',
  description: 'S3 secret access key.',
  sensitive: true,
});

const s3ForcePathStyle = defineSetting({
  env: 'S3_FORCE_PATH_STYLE',
  schema: envBoolean(),
  default: false,
  group: 'Object store',
  description: 'Use path-style bucket URLs (needed by MinIO and most self-hosted stores).',
  sensitive: false,
});

const storageFsRoot = defineSetting({
  env: 'BCTRL_STORAGE_FS_ROOT',
  schema: envString(),
  default: (read) => `${read(dataDir).replace(/\/+$/, '')}/objects`,
  defaultDoc: '`<BCTRL_DATA_DIR>/objects`',
  group: 'Object store',
  description: 'Directory of the filesystem object store (`BCTRL_OBJECT_STORE=fs`); no key ever resolves outside it.',
  sensitive: false,
});

const storageMaxObjectBytes = defineSetting({
  env: 'BCTRL_STORAGE_MAX_OBJECT_BYTES',
  schema: envBytes(),
  default: 5 * 1024 ** 3,
  defaultDoc: '`5368709120` (5 GiB)',
  group: 'Object store',
  description:
    'Largest object a space storage upload or an imported artifact may be; a larger body is refused with 413 `payload_too_large` and nothing is stored.',
  sensitive: false,
});

const storagePort = defineSetting({
  env: 'BCTRL_STORAGE_PORT',
  schema: envPort(),
  default: 8083,
  group: 'Object store',
  description:
    'Distributed mode: port the storage service streams object bytes on, for the gateway only (it trusts the principal the gateway forwards). Local mode streams in process.',
  sensitive: false,
});

const storageUrl = defineSetting({
  env: 'BCTRL_STORAGE_URL',
  schema: envUrl(['http']),
  default: 'http://storage:8083',
  group: 'Object store',
  description: 'Distributed mode: where the gateway streams space storage and artifact bytes to and from.',
  sensitive: false,
});

const artifactContentRedirect = defineSetting({
  env: 'BCTRL_ARTIFACT_CONTENT_REDIRECT',
  schema: envBoolean(),
  // Streaming works whatever the network: the S3 endpoint the services use is often not reachable by tenants.
  default: false,
  group: 'Object store',
  description:
    'With the S3 store, answer `GET /v1/artifacts/{id}/content` with a 302 to a short-lived presigned URL instead of streaming the bytes through the gateway; turn on only when tenants can reach `S3_ENDPOINT`.',
  sensitive: false,
});

const browserDriver = defineSetting({
  env: 'BCTRL_BROWSER_DRIVER',
  schema: envEnum(['local-process', 'kubernetes'] as const),
  default: 'local-process',
  group: 'Runtimes',
  description: 'Where browsers run: child processes on this machine, or one Kubernetes pod per runtime.',
  sensitive: false,
});

const warmPoolSize = defineSetting({
  env: 'BCTRL_WARM_POOL_SIZE',
  schema: envInteger(0, 200),
  default: 0,
  group: 'Runtimes',
  description:
    'Browsers kept started and waiting, so a runtime with the default launch settings is ready in milliseconds. Each idle browser costs about 370 MB.',
  sensitive: false,
});

const runtimeDefaultTimeout = defineSetting({
  env: 'BCTRL_RUNTIME_DEFAULT_TIMEOUT_SECONDS',
  schema: envInteger(10, 7 * 24 * 3600),
  default: 900,
  group: 'Runtimes',
  description: 'A runtime created without `timeoutSeconds` is stopped (stopReason `timeout`) after this long.',
  sensitive: false,
});

const runtimeMaxTimeout = defineSetting({
  env: 'BCTRL_RUNTIME_MAX_TIMEOUT_SECONDS',
  schema: envInteger(10, 7 * 24 * 3600),
  default: 21600,
  group: 'Runtimes',
  description: 'The largest `timeoutSeconds` a tenant may ask for.',
  sensitive: false,
});

const connectionDefaultTtl = defineSetting({
  env: 'BCTRL_CONNECTION_DEFAULT_TTL_SECONDS',
  schema: envInteger(10, 7 * 24 * 3600),
  default: 3600,
  group: 'Connections',
  description: 'Lifetime of a connection created without `ttlSeconds`; its URLs stop working after it.',
  sensitive: false,
});

const connectionMaxTtl = defineSetting({
  env: 'BCTRL_CONNECTION_MAX_TTL_SECONDS',
  schema: envInteger(10, 7 * 24 * 3600),
  default: 86400,
  group: 'Connections',
  description: 'The largest `ttlSeconds` a tenant may ask for.',
  sensitive: false,
});

const cdpProxyPort = defineSetting({
  env: 'BCTRL_CDP_PROXY_PORT',
  schema: envPort(),
  default: 8082,
  group: 'Connections',
  description:
    'Distributed mode: port cdp-proxy serves `/v1/cdp/*` on (WebSockets and discovery), for the gateway and for an ingress that routes there directly. Local mode serves them on the gateway.',
  sensitive: false,
});

const cdpProxyUrl = defineSetting({
  env: 'BCTRL_CDP_PROXY_URL',
  schema: envUrl(['http']),
  default: 'http://cdp-proxy:8082',
  group: 'Connections',
  description: 'Distributed mode: where the gateway forwards `/v1/cdp/*` requests and WebSocket upgrades.',
  sensitive: false,
});

const installationId = defineSetting({
  env: 'BCTRL_INSTALLATION_ID',
  schema: envString(),
  default: 'bctrl',
  group: 'Runtimes',
  description:
    'Marks the browsers (processes, pods) this installation starts, so reconcile removes only its own orphans. Local mode uses one per data directory.',
  sensitive: false,
});

const reconcileIntervalSeconds = defineSetting({
  env: 'BCTRL_RECONCILE_INTERVAL_SECONDS',
  schema: envInteger(1, 3600),
  default: 10,
  group: 'Runtimes',
  description:
    'How often the orchestrator compares runtimes with the browsers that really run, and repairs both sides.',
  sensitive: false,
});

const runtimeNamespace = defineSetting({
  env: 'BCTRL_RUNTIME_NAMESPACE',
  schema: envString(),
  default: 'bctrl-runtimes',
  group: 'Runtimes',
  description: 'Kubernetes namespace of the browser pods (kubernetes driver).',
  sensitive: false,
});

const runtimeImage = defineSetting({
  env: 'BCTRL_RUNTIME_IMAGE',
  schema: envString(),
  default: 'bctrl/browser-runtime:latest',
  group: 'Runtimes',
  description: 'Container image of the browser pods: browser-runtime with Chromium (kubernetes driver).',
  sensitive: false,
});

const runtimeServiceAccount = defineSetting({
  env: 'BCTRL_RUNTIME_SERVICE_ACCOUNT',
  schema: envString().optional(),
  group: 'Runtimes',
  description: 'Service account of the browser pods; its token is never mounted (kubernetes driver).',
  sensitive: false,
});

const runtimeCdpPort = defineSetting({
  env: 'BCTRL_RUNTIME_CDP_PORT',
  schema: envPort(),
  default: 9222,
  group: 'Runtimes',
  description:
    "Port of a browser pod on which its agent forwards to Chromium's DevTools endpoint (loopback-only inside the pod); cdp-proxy dials it (kubernetes driver).",
  sensitive: false,
});

const logLevel = defineSetting({
  env: 'LOG_LEVEL',
  schema: envEnum(['debug', 'info', 'warn', 'error'] as const),
  default: 'info',
  group: 'Observability',
  description: 'Lowest level written to the JSON logs.',
  sensitive: false,
});

const otelExporterOtlpEndpoint = defineSetting({
  env: 'OTEL_EXPORTER_OTLP_ENDPOINT',
  schema: envUrl(['http', 'https']).optional(),
  group: 'Observability',
  description: 'OTLP/HTTP collector base URL; traces are exported to `<url>/v1/traces`. Unset: no export.',
  sensitive: false,
});

const otelServiceName = defineSetting({
  env: 'OTEL_SERVICE_NAME',
  schema: envString().optional(),
  group: 'Observability',
  description: 'Overrides the service name on traces and logs (defaults to the app name, or `bctrl-local`).',
  sensitive: false,
});

const chromePath = defineSetting({
  env: 'CHROME_PATH',
  schema: envString(),
  default: '/usr/lib/chromium/chromium',
  group: 'Browser',
  description: 'Chromium executable used by the local-process browser driver and browser-runtime.',
  sensitive: false,
});

export const platformSettings = {
  mode,
  port,
  host,
  publicUrl,
  dataDir,
  workspaceRoot,
  bootstrapApiKey,
  vaultKeys,
  healthPort,
  maxBodyBytes,
  rateLimitPerSecond,
  databaseUrl,
  redisUrl,
  natsUrl,
  objectStore,
  s3Endpoint,
  s3Region,
  s3Bucket,
  s3AccessKeyId,
  s3SecretAccessKey,
  s3ForcePathStyle,
  storageFsRoot,
  storageMaxObjectBytes,
  storagePort,
  storageUrl,
  artifactContentRedirect,
  logLevel,
  otelExporterOtlpEndpoint,
  otelServiceName,
  chromePath,
  browserDriver,
  warmPoolSize,
  runtimeDefaultTimeout,
  runtimeMaxTimeout,
  installationId,
  reconcileIntervalSeconds,
  connectionDefaultTtl,
  connectionMaxTtl,
  cdpProxyPort,
  cdpProxyUrl,
  runtimeNamespace,
  runtimeImage,
  runtimeServiceAccount,
  runtimeCdpPort,
} as const;

export type PlatformSettings = typeof platformSettings;
export type PlatformConfig = ConfigOf<PlatformSettings>;
export type LogLevel = z.output<typeof logLevel.schema>;

/**
 * What every service running as its own process reads besides its own settings: where it listens for health, how it
 * reaches NATS, how it logs and exports traces, and where its migrations ship.
 */
export const serviceProcessSettings = pickSettings(
  platformSettings,
  'mode',
  'host',
  'healthPort',
  'natsUrl',
  'logLevel',
  'otelExporterOtlpEndpoint',
  'otelServiceName',
  'workspaceRoot',
);
