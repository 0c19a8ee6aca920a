import { createHmac } from 'node:crypto';
import type {
  AGENT_ENV,
  AGENT_PATHS,
  AGENT_WEBDRIVER_CONNECTION,
  agentWebDriverToken,
  BrowserLaunchConfig,
  ProxyCredentials,
} from '@bctrl/contracts';

/*
 * The agent must not load @bctrl/contracts at run time: its index pulls in the generated protobuf code (~60 ms),
 * and cold start is benchmarked against a bare Chromium launch. These copies are typed as `typeof` the contract
 * constants (type-only imports, erased at build), so the compiler rejects any name that drifts from the contract.
 */
export const ENV: typeof AGENT_ENV = {
  token: 'BCTRL_AGENT_TOKEN',
  runtimeId: 'BCTRL_RUNTIME_ID',
  launchConfig: 'BCTRL_LAUNCH_CONFIG',
  port: 'BCTRL_AGENT_PORT',
  host: 'BCTRL_AGENT_HOST',
  chromePath: 'CHROME_PATH',
  workDir: 'BCTRL_WORK_DIR',
  standby: 'BCTRL_AGENT_STANDBY',
  cdpPort: 'BCTRL_AGENT_CDP_PORT',
  chromiumSandbox: 'BCTRL_CHROMIUM_SANDBOX',
  maxFileBytes: 'BCTRL_AGENT_MAX_FILE_BYTES',
  chromedriverPath: 'CHROMEDRIVER_PATH',
  proxyCredentials: 'BCTRL_PROXY_CREDENTIALS',
};

export const PATHS: typeof AGENT_PATHS = {
  health: '/agent/v1/health',
  shutdown: '/agent/v1/shutdown',
  assign: '/agent/v1/assign',
  events: '/agent/v1/events',
  recording: '/agent/v1/recording',
  files: '/agent/v1/files',
  filesList: '/agent/v1/files/list',
  webdriver: '/agent/v1/webdriver',
  webdriverRelease: '/agent/v1/webdriver-release',
};

export const WEBDRIVER_CONNECTION_HEADER: typeof AGENT_WEBDRIVER_CONNECTION = 'x-bctrl-connection';

export const webDriverToken: typeof agentWebDriverToken = (token) =>
  createHmac('sha256', token).update('bctrl-agent-webdriver-v1').digest('base64url');

export const DEFAULT_CHROME_PATH = '/usr/lib/chromium/chromium';

/** Debian's package chromium-driver, built from the same sources as its chromium. */
export const DEFAULT_CHROMEDRIVER_PATH = '/usr/bin/chromedriver';

/** The file API's and the downloads' size limit when the driver sets none. */
export const DEFAULT_MAX_FILE_BYTES = 2 * 1024 ** 3;

export interface AgentConfig {
  token: string;
  runtimeId: string;
  launch: BrowserLaunchConfig;
  port: number;
  host: string;
  chromePath: string;
  /** Started on the first WebDriver request only. */
  chromedriverPath: string;
  /** Absent: the agent makes a fresh temp dir. Either way it is removed when the agent exits. */
  workDir: string | undefined;
  /** Largest file staged through the file API, and largest download kept. */
  maxFileBytes: number;
  /** Port on `host` forwarding to Chromium's loopback-only DevTools endpoint; undefined: none. */
  cdpPort: number | undefined;
  /** What the agent answers the proxy's authentication challenges with; undefined: it answers none. */
  proxyCredentials: ProxyCredentials | undefined;
}

export class AgentConfigError extends Error {}

/**
 * Reads and checks the agent's settings; throws AgentConfigError with a message fit for an operator (never quoting
 * the proxy credentials). `proxyCredentials`: from a standby's launch line; else AGENT_ENV.proxyCredentials is read.
 */
export function readAgentConfig(env: NodeJS.ProcessEnv, proxyCredentials?: unknown): AgentConfig {
  const token = env[ENV.token] ?? '';
  if (token.length < 16) throw new AgentConfigError(`${ENV.token} is required (at least 16 characters)`);
  const portText = env[ENV.port] ?? '0';
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new AgentConfigError(`${ENV.port} must be a port number, got ${JSON.stringify(portText)}`);
  }
  const cdpPortText = env[ENV.cdpPort] ?? '';
  const cdpPort = cdpPortText === '' ? undefined : Number(cdpPortText);
  if (cdpPort !== undefined && (!Number.isInteger(cdpPort) || cdpPort < 1 || cdpPort > 65535)) {
    throw new AgentConfigError(`${ENV.cdpPort} must be a port number, got ${JSON.stringify(cdpPortText)}`);
  }
  const maxText = env[ENV.maxFileBytes] || String(DEFAULT_MAX_FILE_BYTES);
  const maxFileBytes = Number(maxText);
  if (!Number.isSafeInteger(maxFileBytes) || maxFileBytes <= 0) {
    throw new AgentConfigError(`${ENV.maxFileBytes} must be a positive byte count, got ${JSON.stringify(maxText)}`);
  }
  const launch = parseLaunchConfig(env[ENV.launchConfig]);
  const credentials = parseProxyCredentials(proxyCredentials ?? env[ENV.proxyCredentials]);
  if (credentials && !launch.proxy) {
    throw new AgentConfigError(`proxy credentials were given without ${ENV.launchConfig}.proxy`);
  }
  return {
    token,
    runtimeId: env[ENV.runtimeId] ?? '',
    launch,
    port,
    host: env[ENV.host] || '127.0.0.1',
    chromePath: env[ENV.chromePath] || DEFAULT_CHROME_PATH,
    chromedriverPath: env[ENV.chromedriverPath] || DEFAULT_CHROMEDRIVER_PATH,
    workDir: env[ENV.workDir] || undefined,
    maxFileBytes,
    cdpPort,
    proxyCredentials: credentials,
  };
}

/** `{username, password}`, as an object (a launch line) or its JSON (the pod's Secret); never echoed in an error. */
function parseProxyCredentials(input: unknown): ProxyCredentials | undefined {
  if (input === undefined || input === '') return undefined;
  let raw = input;
  if (typeof input === 'string') {
    try {
      raw = JSON.parse(input);
    } catch {
      throw new AgentConfigError(`${ENV.proxyCredentials} is not valid JSON`);
    }
  }
  const { username, password } = (raw ?? {}) as { username?: unknown; password?: unknown };
  if (typeof username !== 'string' || typeof password !== 'string' || username === '' || password === '') {
    throw new AgentConfigError('the proxy credentials need a non-empty username and password');
  }
  return { username, password };
}

function parseLaunchConfig(text: string | undefined): BrowserLaunchConfig {
  if (!text) return {};
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new AgentConfigError(`${ENV.launchConfig} is not valid JSON`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new AgentConfigError(`${ENV.launchConfig} must be a JSON object`);
  }
  const input = raw as Record<string, unknown>;
  const config: BrowserLaunchConfig = {};
  if (input['viewport'] !== undefined) {
    const viewport = input['viewport'] as { width?: unknown; height?: unknown } | null;
    const ok = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n > 0 && n <= 10000;
    if (!viewport || !ok(viewport.width) || !ok(viewport.height)) {
      throw new AgentConfigError(`${ENV.launchConfig}.viewport needs integer width and height`);
    }
    config.viewport = { width: viewport.width, height: viewport.height };
  }
  for (const key of ['userAgent', 'locale', 'timezone'] as const) {
    const value = input[key];
    if (value === undefined) continue;
    // Values reach Chromium's command line and the TZ variable: refuse anything that could smuggle another switch.
    if (typeof value !== 'string' || value.length === 0 || value.length > 512 || /[\0\r\n]/.test(value)) {
      throw new AgentConfigError(`${ENV.launchConfig}.${key} must be a non-empty single-line string`);
    }
    config[key] = value;
  }
  if (input['proxy'] !== undefined) config.proxy = parseProxy(input['proxy']);
  if (input['recording'] !== undefined) {
    if (typeof input['recording'] !== 'boolean')
      throw new AgentConfigError(`${ENV.launchConfig}.recording must be a boolean`);
    config.recording = input['recording'];
  }
  return config;
}

// One rule of Chromium's bypass list, or a server: nothing that could end the switch or start another.
// eslint-disable-next-line no-control-regex
const SWITCH_UNSAFE = /[\s;,\u0000-\u001f\u007f]/;

function parseProxy(value: unknown): NonNullable<BrowserLaunchConfig['proxy']> {
  const proxy = value as { server?: unknown; bypass?: unknown } | null;
  const where = `${ENV.launchConfig}.proxy`;
  if (
    typeof proxy?.server !== 'string' ||
    !/^(https?|socks5):\/\/[^/?#@]+:\d{1,5}$/.test(proxy.server) ||
    SWITCH_UNSAFE.test(proxy.server)
  ) {
    throw new AgentConfigError(`${where}.server must be http://, https:// or socks5://host:port`);
  }
  const bypass = proxy.bypass ?? [];
  if (
    !Array.isArray(bypass) ||
    bypass.length > 100 ||
    bypass.some((rule) => typeof rule !== 'string' || rule === '' || rule.length > 253 || SWITCH_UNSAFE.test(rule))
  ) {
    throw new AgentConfigError(`${where}.bypass must be at most 100 single rules without spaces, ';' or ','`);
  }
  return { server: proxy.server, bypass: bypass as string[] };
}
