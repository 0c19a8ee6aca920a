import { Logger } from '@nestjs/common';
import { type ConnectionSocket, RunEvent, type RunEventData } from '@bctrl/contracts';
import { publishRunEvent } from '@bctrl/service';
import type { Transport } from '@bctrl/transport';
import type { ConnectionLease, LeaseStore } from '../leases/lease-store';

/** What tells one socket (or WebDriver session) of a connection from another in its opened/closed events. */
export type SocketKey = ConnectionSocket;

/** The events cdp-proxy publishes on a connection's run. */
type ConnectionEventType =
  | typeof RunEvent.connectionOpened
  | typeof RunEvent.connectionClosed
  | typeof RunEvent.connectionRevoked
  | typeof RunEvent.liveViewOpened
  | typeof RunEvent.liveViewClosed;

/**
 * Keeps account of the sockets that are open right now, so that a process that dies without closing them (local
 * mode's kill -9) can still report them closed when it starts again. The file-backed lease store is one.
 */
export interface SocketJournal {
  socketOpened(connectionId: string, socket: SocketKey): void;
  socketClosed(connectionId: string, socket: SocketKey): void;
}

/** The store's journal, when it keeps one (local mode's file-backed store); Redis' does not need to. */
export function socketJournalOf(store: LeaseStore): SocketJournal | null {
  const candidate = store as Partial<SocketJournal>;
  return typeof candidate.socketOpened === 'function' && typeof candidate.socketClosed === 'function'
    ? (candidate as SocketJournal)
    : null;
}

function socketKeyOf(data: Record<string, unknown>): SocketKey | null {
  if (typeof data['socketId'] === 'string') return { socketId: data['socketId'] };
  if (typeof data['webdriverSessionId'] === 'string') return { webdriverSessionId: data['webdriverSessionId'] };
  return null;
}

/** `connection.*` events on the run of the runtime a connection belongs to. */
export class ConnectionEvents {
  private readonly logger = new Logger('ConnectionEvents');

  constructor(
    private readonly transport: Transport,
    private readonly journal: SocketJournal | null = null,
  ) {}

  async publish<T extends ConnectionEventType>(lease: ConnectionLease, type: T, data: RunEventData<T>): Promise<void> {
    // Noted before the event goes out: a crash right after a socket opened must still find it in the journal.
    const key = this.journal ? socketKeyOf(data as Record<string, unknown>) : null;
    if (key && type === RunEvent.connectionOpened) this.journal?.socketOpened(lease.id, key);
    if (key && type === RunEvent.connectionClosed) this.journal?.socketClosed(lease.id, key);
    try {
      await publishRunEvent(this.transport, lease, type, data);
    } catch (error) {
      // A socket is never refused or held because the event stream is briefly unavailable.
      this.logger.error(`could not publish ${type} for ${lease.id}: ${String(error)}`);
    }
  }
}
