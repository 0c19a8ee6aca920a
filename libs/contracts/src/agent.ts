import { createHmac } from 'node:crypto';

/**
 * The HTTP API of browser-runtime, the agent that runs beside Chromium in every runtime (a local child process
 * or a pod). Only the platform calls it: every request carries `Authorization: Bearer <agent token>`, a secret
 * the driver made for that one runtime. Paths are frozen like NATS subjects: agents and orchestrators of
 * neighbouring versions meet during a rolling upgrade.
 */
export const AGENT_PATHS = {
  /** GET → AgentHealth. Answers 200 once Chromium answered its first CDP call, 503 before. */
  health: '/agent/v1/health',
  /** POST → 202; the agent closes Chromium and exits. */
  shutdown: '/agent/v1/shutdown',
  /** POST {runtimeId, ...} → 200: binds a pooled (warm) agent to the runtime it now serves. */
  assign: '/agent/v1/assign',
  /** GET ?after=<seq>&waitMs=<ms> → {events: AgentEvent[]}: what happened in the browser (pages, console), long-polled. */
  events: '/agent/v1/events',
  /**
   * GET → 200 `application/x-ndjson`: the browser's rrweb recording so far, one `{"targetId", "event"}` line per
   * event (see AgentRecordingLine), after the pages handed over what they had batched. 404 when recording is off.
   */
  recording: '/agent/v1/recording',
  /**
   * The runtime's work area (see AGENT_AREA_DIRS): `PUT ?path=files/<name>` streams the body into a file (temp file, then
   * rename; parent folders made) → 201 AgentFileWritten, 413 over the agent's size limit; `GET ?path=` streams a
   * file back (`content-length` set) → 404 absent, 400 a folder. `path` is work-area-relative or an absolute
   * runtimePath inside the work area; anything else (`..`, control characters, symlinks leading out) → 400.
   */
  files: '/agent/v1/files',
  /** GET ?dir=downloads|files|<folder inside them> (absent: both) → AgentFileList, recursive, symlinks skipped. */
  filesList: '/agent/v1/files/list',
  /**
   * A prefix: every request under it goes to the runtime's chromedriver (started on first use), with the path after
   * the prefix, so `<prefix>/session` is W3C WebDriver's New Session. New Session is rewritten to attach to the
   * runtime's own browser (`goog:chromeOptions` becomes `{debuggerAddress}`; nothing the client asks can launch
   * another browser), and the answer does not carry that address. The request header AGENT_WEBDRIVER_CONNECTION
   * names the connection a session is created under. Takes the agent token or `agentWebDriverToken(token)`.
   */
  webdriver: '/agent/v1/webdriver',
  /** POST {connectionId} → 200 {deleted}: deletes the WebDriver sessions created under that connection (revoked). */
  webdriverRelease: '/agent/v1/webdriver-release',
} as const;

/** The header cdp-proxy names a WebDriver request's connection in (AGENT_PATHS.webdriver). */
export const AGENT_WEBDRIVER_CONNECTION = 'x-bctrl-connection';

/**
 * The credential for an agent's WebDriver routes only, derived from its agent token. cdp-proxy keeps it in a
 * connection's lease (Redis in distributed mode), so the lease store never holds a token that can read files, end
 * the runtime or fetch its recording.
 */
export function agentWebDriverToken(agentToken: string): string {
  return createHmac('sha256', agentToken).update('bctrl-agent-webdriver-v1').digest('base64url');
}

export interface AgentBrowserInfo {
  pid: number;
  /** `Browser.getVersion().product`, e.g. `Chrome/156.0.8078.73`. */
  product: string;
  /** The browser-level CDP WebSocket URL as reachable from the platform (cdp-proxy). */
  cdpUrl: string;
}

export interface AgentHealth {
  status: 'starting' | 'ready' | 'stopping';
  /** Empty while the agent waits in the warm pool. */
  runtimeId: string;
  browser: AgentBrowserInfo | null;
  startedAt: string;
  readyAt: string | null;
}

/** Launch settings the agent applies to Chromium. All optional: absent means Chromium's own default. */
export interface BrowserLaunchConfig {
  viewport?: { width: number; height: number };
  userAgent?: string;
  locale?: string;
  timezone?: string;
  /** Record every page with rrweb (the run's recording). Absent means on. */
  recording?: boolean;
  /**
   * Send all traffic through this proxy (`--proxy-server`), except what `bypass` lists (`--proxy-bypass-list`,
   * Chromium's rule syntax). Its credentials are never here: see ProxyCredentials.
   */
  proxy?: { server: string; bypass?: string[] };
}

/**
 * What the agent answers a proxy's authentication challenge with. It reaches the agent the way nothing else of the
 * launch does: a local driver writes it in the agent's launch line on stdin, the Kubernetes driver puts it in the
 * pod's Secret (AGENT_ENV.proxyCredentials, valueFrom secretKeyRef). Never on a command line, in a launch config,
 * or in a pod spec in clear; the agent keeps it from Chromium's environment.
 */
export interface ProxyCredentials {
  username: string;
  password: string;
}

/** Environment variables the drivers set for the agent (process env locally, container env in a pod). */
export const AGENT_ENV = {
  token: 'BCTRL_AGENT_TOKEN',
  runtimeId: 'BCTRL_RUNTIME_ID',
  /** JSON of BrowserLaunchConfig. */
  launchConfig: 'BCTRL_LAUNCH_CONFIG',
  port: 'BCTRL_AGENT_PORT',
  host: 'BCTRL_AGENT_HOST',
  chromePath: 'CHROME_PATH',
  workDir: 'BCTRL_WORK_DIR',
  /**
   * `1`: boot and wait for one JSON line on stdin, `{runtimeId, launchConfig}`, before starting Chromium (a
   * local driver keeps one such agent ready so that Node's boot is not on a cold start's path).
   */
  standby: 'BCTRL_AGENT_STANDBY',
  /**
   * When set: a port on the agent's host that forwards to Chromium's DevTools endpoint, which listens on loopback
   * only. A pod's loopback is its own, so this is how the platform reaches a browser in a pod (kubernetes driver).
   */
  cdpPort: 'BCTRL_AGENT_CDP_PORT',
  /**
   * `off`: Chromium runs without its own sandbox. The Kubernetes driver sets it: a non-root pod under seccomp
   * RuntimeDefault with every capability dropped cannot create the namespaces Chromium's sandbox needs, and the pod
   * (its own user, seccomp, NetworkPolicy, one runtime per pod) is the isolation boundary there. Absent: the sandbox
   * stays on, except as root, where Chromium refuses to start with it.
   */
  chromiumSandbox: 'BCTRL_CHROMIUM_SANDBOX',
  /** Largest file the file API accepts and the largest download kept, in bytes (default 2 GiB). */
  maxFileBytes: 'BCTRL_AGENT_MAX_FILE_BYTES',
  /** chromedriver for WebDriver connections; default Debian's `/usr/bin/chromedriver` (package chromium-driver). */
  chromedriverPath: 'CHROMEDRIVER_PATH',
  /** JSON of ProxyCredentials, set from the pod's Secret by the Kubernetes driver only (see ProxyCredentials). */
  proxyCredentials: 'BCTRL_PROXY_CREDENTIALS',
} as const;

/** Something the agent saw happen in its browser, numbered from 1 in the order it saw them. */
export interface AgentEvent {
  seq: number;
  /** page.created | page.navigated | page.closed | console | download.completed | download.failed */
  type: string;
  at: string;
  data: Record<string, unknown>;
}

/**
 * One line of the agent's recording (AGENT_PATHS.recording): an rrweb event of one page (tab) of the browser, in
 * the order the agent received them (per page, the order rrweb emitted them). The last line may instead be the
 * marker `{"targetId": null, "event": null, "stopped": "<reason>", "at": <epoch ms>}`: recording ended there
 * (its size limit was reached).
 */
export interface AgentRecordingLine {
  targetId: string;
  /** An rrweb `eventWithTime`: at least a numeric `type` and `timestamp` (epoch ms). */
  event: { type: number; timestamp: number; data?: unknown };
}

/**
 * The runtime's work area, the only part of its filesystem the file API reaches: `files/` for what the platform
 * stages and collects, `downloads/` where the browser saves downloads (written by the browser only). Chromium's
 * profile and the agent's own files live beside it, out of reach. Paths are `/`-separated and start with one of
 * these folders.
 */
export const AGENT_AREA_DIRS = ['files', 'downloads'] as const;

/** The answer to `PUT AGENT_PATHS.files`. */
export interface AgentFileWritten {
  /** Work-area-relative, e.g. `files/upload/report.pdf`. */
  path: string;
  /** The same file as an absolute path inside the runtime: what Playwright's `setInputFiles` takes. */
  runtimePath: string;
  size: number;
  /** Hex sha256 of the bytes written. */
  sha256: string;
}

export interface AgentFileList {
  /** Sorted by path; regular files only. */
  files: { path: string; size: number; modifiedAt: string }[];
  /** True when the listing stopped at its limit (10,000 files). */
  truncated: boolean;
}

/** `data` of the AgentEvent `download.completed`: the browser finished a download and it is in the work area. */
export interface AgentDownloadCompleted {
  /** Chromium's download guid. */
  guid: string;
  /** The name the site suggested (Content-Disposition or URL). */
  suggestedFilename: string;
  /**
   * Work-area-relative path of the file, readable with `GET AGENT_PATHS.files`: `downloads/` and the suggested
   * name, made unique as Chrome does (`downloads/report (1).bin` when `report.bin` is taken).
   */
  path: string;
  size: number;
  sha256: string;
  /** The download's URL without credentials, query string or fragment; `data:` URLs as their scheme only. */
  url: string;
  /** The page (tab) the download started from, when it started from a page's main frame. */
  targetId?: string;
}

/** `data` of the AgentEvent `download.failed`: a download that began and did not end up in the work area. */
export interface AgentDownloadFailed {
  guid: string;
  suggestedFilename: string;
  url: string;
  targetId?: string;
  /**
   * canceled: by the page, a client or the browser; too_large: over the agent's size limit; unavailable: the
   * browser reported a finished file the agent could not read (gone already, or not a regular file).
   */
  reason: 'canceled' | 'too_large' | 'unavailable';
}
