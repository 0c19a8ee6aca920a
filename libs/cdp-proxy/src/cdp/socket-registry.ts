import { randomUUID } from 'node:crypto';
import { type ConnectionLease, connectionStatus, type EndReason, type LeaseStore } from '../leases/lease-store';

/** Close codes a client sees when the platform ends its socket (4000–4999: application codes, RFC 6455 §7.4.2). */
export const CLOSE_CODES = {
  revoked: { code: 4001, reason: 'connection revoked' },
  expired: { code: 4002, reason: 'connection expired' },
  runtime_stopped: { code: 4003, reason: 'runtime stopped' },
  // A lease local mode ended at its restart: its sockets died with the old process, so this is for completeness.
  platform_restarted: { code: 4004, reason: 'platform restarted' },
  shutdown: { code: 1001, reason: 'proxy shutting down' },
} as const;

/** A socket the platform can end: a spliced CDP connection or a live viewer. */
export interface LiveSocket {
  id: string;
  lease: ConnectionLease;
  close(code: number, reason: string): void;
  closed: Promise<unknown>;
  expiry: NodeJS.Timeout;
}

/**
 * The sockets this replica holds, by connection: each is closed with its code when its lease expires, when its
 * connection ends (on whichever replica it was ended), or when the proxy shuts down.
 */
export class SocketRegistry {
  private readonly live = new Map<string, Set<LiveSocket>>();

  constructor(private readonly store: LeaseStore) {}

  get size(): number {
    let count = 0;
    for (const sockets of this.live.values()) count += sockets.size;
    return count;
  }

  /** The runtimes that have an open socket here: they count as active. */
  runtimeIds(): string[] {
    return [...this.live.values()].flatMap((sockets) => [...sockets].map((socket) => socket.lease.runtimeId));
  }

  /** Tracks an open socket under its lease until it closes, and closes it when the lease expires. */
  register(
    lease: ConnectionLease,
    close: (code: number, reason: string) => void,
    closed: Promise<unknown>,
  ): LiveSocket {
    const live: LiveSocket = {
      id: randomUUID(),
      lease,
      close,
      closed,
      expiry: setTimeout(
        () => close(CLOSE_CODES.expired.code, CLOSE_CODES.expired.reason),
        Math.max(0, lease.expiresAt - Date.now()),
      ),
    };
    live.expiry.unref();
    let sockets = this.live.get(lease.id);
    if (!sockets) this.live.set(lease.id, (sockets = new Set()));
    sockets.add(live);
    void closed.then(() => {
      clearTimeout(live.expiry);
      sockets.delete(live);
      if (sockets.size === 0 && this.live.get(lease.id) === sockets) this.live.delete(lease.id);
    });
    return live;
  }

  /** A revoke that landed between the lease check and the socket's registration would otherwise be missed. */
  async recheck(live: LiveSocket): Promise<void> {
    const current = await this.store.get(live.lease.id);
    const status = current ? connectionStatus(current) : 'revoked';
    if (status !== 'active')
      this.closeSocket(live, status === 'expired' ? 'expired' : (current?.endReason ?? 'revoked'));
  }

  /** Every socket of a connection that ended. */
  closeConnection(connectionId: string, reason: EndReason): void {
    for (const live of this.live.get(connectionId) ?? []) this.closeSocket(live, reason);
  }

  /** Every socket, with one code (the proxy shutting down); resolves once all have closed. */
  async closeAll(code: number, reason: string): Promise<void> {
    const all = [...this.live.values()].flatMap((sockets) => [...sockets]);
    for (const live of all) live.close(code, reason);
    await Promise.all(all.map((live) => live.closed));
  }

  private closeSocket(live: LiveSocket, reason: EndReason | 'expired'): void {
    const { code, reason: text } = CLOSE_CODES[reason];
    live.close(code, text);
  }
}
