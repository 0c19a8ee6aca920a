import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ConnectionEvents } from '../cdp/connection-events';
import type { SocketRegistry } from '../cdp/socket-registry';
import type { ConnectionLease, LeaseStore } from '../leases/lease-store';
import type { CdpTraffic } from '../recording/cdp-traffic';
import type { CommandPublisher } from '../recording/command-recorder';

/** What every route of the proxy shares: leases, events, the socket registry, and the runtimes' activity. */
export interface ProxyContext {
  store: LeaseStore;
  publisher: CommandPublisher;
  /** The CDP messages and bytes this proxy carried, for the metrics. */
  traffic: CdpTraffic;
  events: ConnectionEvents;
  sockets: SocketRegistry;
  /** Browser dial (TCP + handshake) limit. */
  dialTimeoutMs: number;
  /** True once the proxy is shutting down: new sockets are refused with 503. */
  closing(): boolean;
  /** Reports runtimes as active (their idle stop waits). */
  touch(runtimeIds: string[]): void;
}

/**
 * One family of the proxy's public paths, declared by its prefix (Browserless' route classes are the model). A route
 * answers WebSocket upgrades, plain HTTP requests, or both; the dispatcher hands it only requests under its prefix,
 * and answers a kind a route does not take with its `refusal`.
 */
export interface ProxyRoute {
  readonly prefix: string;
  /** What a client is told when it asks this path for the kind of request the route does not take. */
  readonly refusal: string;
  upgrade?(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void>;
  request?(req: IncomingMessage, res: ServerResponse): Promise<void>;
  /** Says why a request failed after it was accepted: the browser or agent behind it did not answer. */
  readonly unavailable: string;
}

/**
 * The live `cdp` connection a token opens. Tokens of other leases share the store but open nothing here: a view-only
 * live-view link or a WebDriver connection must never reach the browser's raw CDP.
 */
export async function cdpLease(store: LeaseStore, token: string): Promise<ConnectionLease | null> {
  const lease = await store.byToken(token);
  return lease?.type === 'cdp' ? lease : null;
}

/** `/v1/cdp/<token>`, `/v1/cdp/<token>/devtools/page/<id>`, `/v1/cdp/<token>/json/version`, … */
export const CDP_ROUTE = /^\/v1\/cdp\/([A-Za-z0-9_-]{16,128})(\/[^?#]*)?(?:\?.*)?$/;
