import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { ConnectionType } from '@bctrl/contracts';

/**
 * Why a connection ended before its lease ran out. `platform_restarted`: local mode went down (a crash, kill -9)
 * while it was live, and the start after found it so; its sockets had died with the process.
 */
export type EndReason = 'revoked' | 'runtime_stopped' | 'platform_restarted';

/** Connections (`cdp`, `webdriver`) and the leases behind live-view and recording-view pages share one store. */
export type LeaseType = ConnectionType | 'live_view' | 'recording_view';

export const isConnectionLease = (lease: { type: LeaseType }) => lease.type === 'cdp' || lease.type === 'webdriver';

/**
 * A connection: a lease on one runtime's browser, bound to its runtime, space and account. The token is the
 * only credential its URLs carry; it is looked up by its SHA-256, so the token index never holds a usable token.
 */
export interface ConnectionLease {
  id: string;
  token: string;
  type: LeaseType;
  runtimeId: string;
  spaceId: string;
  accountId: string;
  subaccountId: string | null;
  runId: string;
  /** The browser-level CDP URL the proxy dials; never shown to tenants. */
  cdpUrl: string;
  /** Epoch milliseconds. */
  createdAt: number;
  expiresAt: number;
  endedAt: number | null;
  endReason: EndReason | null;
  /** Live views only: the viewer may send mouse, wheel and keyboard input. */
  interactive?: boolean;
  /**
   * WebDriver connections only: the runtime agent's WebDriver relay and the credential for that relay alone (it
   * opens no other agent route). Never shown to tenants.
   */
  webdriver?: { url: string; token: string };
}

export interface ConnectionEnded {
  connectionId: string;
  runtimeId: string;
  reason: EndReason;
}

export interface Subscription {
  close(): Promise<void>;
}

/**
 * Where leases live: Redis in distributed mode (every cdp-proxy replica sees every lease and every revocation),
 * memory in local mode. Both pass the same conformance suite (lease-store.conformance.ts).
 */
export interface LeaseStore {
  put(lease: ConnectionLease): Promise<void>;
  /** The live lease this token opens: unknown, ended and expired tokens all give null. */
  byToken(token: string): Promise<ConnectionLease | null>;
  /** A connection in any state, while its record is retained. */
  get(id: string): Promise<ConnectionLease | null>;
  /** A runtime's connections, newest first (at most the latest RUNTIME_INDEX_LIMIT). */
  listByRuntime(runtimeId: string): Promise<ConnectionLease[]>;
  /**
   * Ends a live connection (its token stops working at once) and tells every subscriber, on every replica.
   * Returns the ended lease when this call ended it; null when it was unknown, already ended or expired.
   */
  end(id: string, reason: EndReason, now?: number): Promise<ConnectionLease | null>;
  /** Ends every live connection of a runtime. */
  endRuntime(runtimeId: string, reason: EndReason, now?: number): Promise<ConnectionLease[]>;
  /** Ends seen by this store's subscribers, whichever replica ended them. */
  subscribe(listener: (ended: ConnectionEnded) => void): Promise<Subscription>;
  close(): Promise<void>;
}

/** Records stay readable this long after their lease ends (GET and list show them as expired/revoked). */
export const RECORD_RETENTION_MS = 24 * 60 * 60 * 1000;
/** A runtime's index keeps its newest connections; older records still expire on their own. */
export const RUNTIME_INDEX_LIMIT = 1000;

export function tokenDigest(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export function connectionStatus(lease: ConnectionLease, now = Date.now()) {
  if (lease.endReason === 'revoked') return 'revoked' as const;
  if (lease.endReason === 'runtime_stopped' || lease.endReason === 'platform_restarted') return 'closed' as const;
  return lease.expiresAt <= now ? ('expired' as const) : ('active' as const);
}

export const isLive = (lease: ConnectionLease, now = Date.now()) => connectionStatus(lease, now) === 'active';

/** Local mode: one process, so a Map and an EventEmitter are the whole of Redis' part. */
export class InMemoryLeaseStore implements LeaseStore {
  /** Subclasses read it to persist the records (the file-backed store of local mode); they never mutate it. */
  protected readonly leases = new Map<string, ConnectionLease>();
  private readonly byDigest = new Map<string, string>();
  private readonly events = new EventEmitter();

  put(lease: ConnectionLease): Promise<void> {
    this.prune();
    this.leases.set(lease.id, { ...lease });
    this.byDigest.set(tokenDigest(lease.token), lease.id);
    return Promise.resolve();
  }

  byToken(token: string): Promise<ConnectionLease | null> {
    const id = this.byDigest.get(tokenDigest(token));
    const lease = id ? this.leases.get(id) : undefined;
    return Promise.resolve(lease && isLive(lease) ? { ...lease } : null);
  }

  get(id: string): Promise<ConnectionLease | null> {
    const lease = this.leases.get(id);
    return Promise.resolve(lease ? { ...lease } : null);
  }

  listByRuntime(runtimeId: string): Promise<ConnectionLease[]> {
    return Promise.resolve(
      [...this.leases.values()]
        .filter((lease) => lease.runtimeId === runtimeId)
        .sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1))
        .slice(0, RUNTIME_INDEX_LIMIT)
        .map((lease) => ({ ...lease })),
    );
  }

  end(id: string, reason: EndReason, now = Date.now()): Promise<ConnectionLease | null> {
    const lease = this.leases.get(id);
    if (!lease || !isLive(lease, now)) return Promise.resolve(null);
    lease.endedAt = now;
    lease.endReason = reason;
    this.byDigest.delete(tokenDigest(lease.token));
    const ended: ConnectionEnded = { connectionId: id, runtimeId: lease.runtimeId, reason };
    // Asynchronously, like a pub/sub delivery: a subscriber never runs inside the caller's stack.
    setImmediate(() => this.events.emit('ended', ended));
    return Promise.resolve({ ...lease });
  }

  async endRuntime(runtimeId: string, reason: EndReason, now = Date.now()): Promise<ConnectionLease[]> {
    const ended: ConnectionLease[] = [];
    for (const lease of [...this.leases.values()]) {
      if (lease.runtimeId !== runtimeId) continue;
      const done = await this.end(lease.id, reason, now);
      if (done) ended.push(done);
    }
    return ended;
  }

  subscribe(listener: (ended: ConnectionEnded) => void): Promise<Subscription> {
    this.events.on('ended', listener);
    return Promise.resolve({
      close: () => {
        this.events.off('ended', listener);
        return Promise.resolve();
      },
    });
  }

  close(): Promise<void> {
    this.events.removeAllListeners();
    return Promise.resolve();
  }

  /** Records past their retention go, as Redis would expire them. */
  private prune(now = Date.now()): void {
    for (const [id, lease] of this.leases) {
      if ((lease.endedAt ?? lease.expiresAt) + RECORD_RETENTION_MS <= now) {
        this.leases.delete(id);
        this.byDigest.delete(tokenDigest(lease.token));
      }
    }
  }
}
