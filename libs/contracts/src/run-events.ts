import type { AgentDownloadCompleted, AgentDownloadFailed } from './agent';
import type { StopReason } from './runtimes';

/**
 * The run event catalogue: every event type a run may hold and the shape of its `data`. Run events are the
 * product's durable record and part of the public API (API.md, `GET /v1/runs/{id}/events`), so this is the one place
 * their names and payloads are written: every publisher and consumer is typed by it, and a committed snapshot
 * (run-events.contract.spec.ts) makes a rename or a payload change a visible contract change. Consumers must ignore
 * fields they do not know; a field's meaning never changes once shipped.
 */
export interface RunEventCatalogue {
  /** A runtime began to start; `driver` is where its browser runs. */
  'runtime.starting': { driver: 'local-process' | 'kubernetes' };
  /** Its browser answered CDP. `warm`: it came from the warm pool. `startMs`: from the request to ready. */
  'runtime.ready': { warm: boolean; startMs: number };
  'runtime.stopping': { stopReason: StopReason };
  /** The run ends here. `stopReason` is null for a runtime that stopped before it had one recorded. */
  'runtime.stopped': { stopReason: StopReason | null };
  /** The run ends here: the browser died or could not start. */
  'runtime.failed': { stopReason: 'crashed'; detail: string };

  /** A socket (CDP) or a WebDriver session opened through a connection. */
  'connection.opened': ConnectionSocket & { connectionId: string; target: string };
  /**
   * That socket or session closed. `closedBy`: `client`, `upstream` (the browser), `proxy`, or `platform` (revoke,
   * expiry, runtime stop, a restart of the platform). Socket closes carry the close code and the traffic counts.
   */
  'connection.closed': ConnectionSocket & {
    connectionId: string;
    closedBy: 'client' | 'upstream' | 'proxy' | 'platform';
    code?: number | null;
    reason?: string | null;
    bytesFromClient?: number;
    bytesFromBrowser?: number;
    messagesFromClient?: number;
    messagesFromBrowser?: number;
  };
  'connection.revoked': { connectionId: string };

  'live_view.opened': { socketId: string; interactive: boolean };
  'live_view.closed': {
    socketId: string;
    code: number;
    reason: string;
    frames: number;
    framesDropped: number;
    inputs: number;
  };

  /** A tab appeared, navigated, closed; what a page wrote to its console (text cut at 1,000 characters). */
  'page.created': { targetId: string; url: string };
  'page.navigated': { targetId: string; url: string; title: string };
  'page.closed': { targetId: string };
  console: { targetId: string; level: string; text: string };

  /**
   * A download finished and became a `download` artifact (`artifactId` null, with `error`, when it could not).
   * `path` is the file in the runtime's work area (`downloads/report (1).bin`), the name the artifact has too.
   */
  'download.completed': AgentDownloadCompleted & ({ artifactId: string } | { artifactId: null; error: string });
  'download.failed': AgentDownloadFailed;

  /** A storage file was staged into the runtime's work area (`path`, relative to it). */
  'file.staged': { storagePath: string; path: string; size: number; sha256: string };
  /** A runtime file was collected into space storage (and registered as an artifact when asked). */
  'file.collected': { runtimePath: string; storagePath: string; size: number; sha256: string; artifactId?: string };
  'artifact.created': {
    artifactId: string;
    kind: string;
    name: string;
    contentType: string;
    size: number;
    sha256: string;
  };

  /** A vault secret was read to be used for this run: by what (`proxy prx_…`, `tool tool_…`), never its value. */
  'secret.used': { secretId: string; version: number; user: string };

  /**
   * The runtime's proxy refused the credentials it was given (it asked again after them): the request failed with
   * net::ERR_INVALID_AUTH_CREDENTIALS. `proxy` is the server (never a credential), `url` the first refused request,
   * `failures` how many requests it refused since the previous such event (at most one every 5 seconds).
   */
  'proxy.auth_failed': { proxy: string; url: string; failures: number };
}

/** Which socket or WebDriver session of a connection an opened/closed event is about. */
export type ConnectionSocket = { socketId: string } | { webdriverSessionId: string };

export type RunEventType = keyof RunEventCatalogue;
export type RunEventData<T extends RunEventType> = RunEventCatalogue[T];

/**
 * The type names, for publishers and consumers to refer to instead of spelling them. `satisfies` ties each value to
 * the catalogue, and the record type makes a catalogue entry without a name here a compile error.
 */
export const RunEvent = {
  runtimeStarting: 'runtime.starting',
  runtimeReady: 'runtime.ready',
  runtimeStopping: 'runtime.stopping',
  runtimeStopped: 'runtime.stopped',
  runtimeFailed: 'runtime.failed',
  connectionOpened: 'connection.opened',
  connectionClosed: 'connection.closed',
  connectionRevoked: 'connection.revoked',
  liveViewOpened: 'live_view.opened',
  liveViewClosed: 'live_view.closed',
  pageCreated: 'page.created',
  pageNavigated: 'page.navigated',
  pageClosed: 'page.closed',
  console: 'console',
  downloadCompleted: 'download.completed',
  downloadFailed: 'download.failed',
  fileStaged: 'file.staged',
  fileCollected: 'file.collected',
  artifactCreated: 'artifact.created',
  secretUsed: 'secret.used',
  proxyAuthFailed: 'proxy.auth_failed',
} as const satisfies Record<string, RunEventType>;

/** Every type of the catalogue, in catalogue order. */
export const RUN_EVENT_TYPES: readonly RunEventType[] = Object.values(RunEvent);

/** Every catalogue type has a name in RunEvent: a type added to the catalogue alone fails to compile here. */
type Unnamed = Exclude<RunEventType, (typeof RunEvent)[keyof typeof RunEvent]>;
export const RUN_EVENT_NAMES_COMPLETE: Unnamed extends never ? true : never = true;

export function isRunEventType(type: string): type is RunEventType {
  return (RUN_EVENT_TYPES as readonly string[]).includes(type);
}

/** Events after which a run has nothing more to say. */
export const RUN_END_EVENTS: readonly RunEventType[] = [RunEvent.runtimeStopped, RunEvent.runtimeFailed];

/**
 * The events a runtime's agent reports about its browser, which the orchestrator relays onto the run. Anything else
 * an agent claims is dropped: the agent sits beside tenant-controlled pages and must not be able to, say, end a run.
 */
export const BROWSER_EVENT_TYPES = [
  RunEvent.pageCreated,
  RunEvent.pageNavigated,
  RunEvent.pageClosed,
  RunEvent.console,
  RunEvent.downloadCompleted,
  RunEvent.downloadFailed,
  RunEvent.proxyAuthFailed,
] as const;
export type BrowserEventType = (typeof BROWSER_EVENT_TYPES)[number];

export function isBrowserEventType(type: string): type is BrowserEventType {
  return (BROWSER_EVENT_TYPES as readonly string[]).includes(type);
}
