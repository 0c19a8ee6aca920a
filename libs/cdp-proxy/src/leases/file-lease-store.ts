import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Logger } from '@nestjs/common';
import { RunEvent } from '@bctrl/contracts';
import type { Transport } from '@bctrl/transport';
import { ConnectionEvents, type SocketJournal, type SocketKey } from '../cdp/connection-events';
import { type ConnectionLease, type EndReason, InMemoryLeaseStore, isLive } from './lease-store';

/** What `connections.json` holds: the records, and the sockets open when it was written. */
interface Snapshot {
  version: 1;
  leases: ConnectionLease[];
  openSockets: Record<string, SocketKey[]>;
}

const sameSocket = (a: SocketKey, b: SocketKey) =>
  ('socketId' in a && 'socketId' in b && a.socketId === b.socketId) ||
  ('webdriverSessionId' in a && 'webdriverSessionId' in b && a.webdriverSessionId === b.webdriverSessionId);

/**
 * Local mode's lease store: the in-memory store, with every change written to one file in the data dir, so that
 * connection records outlive the process. A process that ended without closing its connections (a crash, kill -9)
 * left them live in the file with their sockets open; the next start ends each such lease with `platform_restarted`
 * as it loads them (their sockets died with the process: nothing could use them since), and `announceRestart`
 * reports every socket that was open as `connection.closed` on its run.
 *
 * The file holds exactly what memory holds, tokens included (byToken needs them after a restart too), so it is
 * readable by its owner only. Each write goes to a temporary file renamed over the old one: a crash mid-write
 * leaves the previous version, never half of one.
 */
export class FileLeaseStore extends InMemoryLeaseStore implements SocketJournal {
  private readonly logger = new Logger('FileLeaseStore');
  private readonly openSockets = new Map<string, SocketKey[]>();
  /** Sockets the previous process had open, until announceRestart has reported them. */
  private readonly orphanedSockets = new Map<string, SocketKey[]>();
  private flushPending = false;
  private closed = false;
  /** Connections the previous process left live, ended by this start. */
  readonly endedByRestart: ConnectionLease[] = [];

  constructor(
    private readonly file: string,
    now = Date.now(),
  ) {
    super();
    mkdirSync(dirname(file), { recursive: true });
    const snapshot = this.read();
    for (const lease of snapshot.leases) void super.put(lease);
    for (const lease of snapshot.leases) {
      if (!isLive(lease, now)) continue;
      // No subscriber exists yet, and no socket of this process can be open: ending it is all there is to do.
      void super.end(lease.id, 'platform_restarted', now);
      const ended = this.leases.get(lease.id);
      if (ended) this.endedByRestart.push({ ...ended });
    }
    for (const [connectionId, sockets] of Object.entries(snapshot.openSockets)) {
      if (!this.leases.has(connectionId) || sockets.length === 0) continue;
      // Kept in the journal until reported: a crash during this start reports them at the next one.
      this.openSockets.set(connectionId, [...sockets]);
      this.orphanedSockets.set(connectionId, [...sockets]);
    }
    this.flush();
  }

  override async put(lease: ConnectionLease): Promise<void> {
    await super.put(lease);
    this.schedule();
  }

  override async end(id: string, reason: EndReason, now = Date.now()): Promise<ConnectionLease | null> {
    const ended = await super.end(id, reason, now);
    if (ended) this.schedule();
    return ended;
  }

  socketOpened(connectionId: string, socket: SocketKey): void {
    const sockets = this.openSockets.get(connectionId) ?? [];
    sockets.push(socket);
    this.openSockets.set(connectionId, sockets);
    this.schedule();
  }

  socketClosed(connectionId: string, socket: SocketKey): void {
    const left = (this.openSockets.get(connectionId) ?? []).filter((open) => !sameSocket(open, socket));
    if (left.length > 0) this.openSockets.set(connectionId, left);
    else this.openSockets.delete(connectionId);
    this.schedule();
  }

  /**
   * Reports every socket the previous process had open as closed by the platform, on its connection's run. Runs once
   * the platform is up (the run events have somewhere to go); each report also takes the socket off the journal.
   */
  async announceRestart(transport: Transport): Promise<void> {
    const events = new ConnectionEvents(transport, this);
    for (const [connectionId, sockets] of [...this.orphanedSockets]) {
      this.orphanedSockets.delete(connectionId);
      const lease = this.leases.get(connectionId);
      if (!lease) continue;
      for (const socket of sockets) {
        await events.publish({ ...lease }, RunEvent.connectionClosed, {
          connectionId,
          ...socket,
          closedBy: 'platform',
          code: null,
          reason: 'platform_restarted',
        });
      }
    }
  }

  override async close(): Promise<void> {
    if (!this.closed) this.flush();
    this.closed = true;
    await super.close();
  }

  /** Writes once per turn of the event loop however many changes it saw, so a burst costs one write. */
  private schedule(): void {
    if (this.flushPending || this.closed) return;
    this.flushPending = true;
    setImmediate(() => {
      this.flushPending = false;
      if (!this.closed) this.flush();
    });
  }

  private flush(): void {
    for (const connectionId of this.openSockets.keys()) {
      // A record past its retention (pruned by put) takes its journal with it.
      if (!this.leases.has(connectionId)) this.openSockets.delete(connectionId);
    }
    const snapshot: Snapshot = {
      version: 1,
      leases: [...this.leases.values()],
      openSockets: Object.fromEntries(this.openSockets),
    };
    const temporary = `${this.file}.${process.pid}.tmp`;
    try {
      writeFileSync(temporary, JSON.stringify(snapshot), { mode: 0o600 });
      renameSync(temporary, this.file);
    } catch (error) {
      // Memory still holds the truth for this process; only what a crash would leave is older.
      this.logger.error(`could not write ${this.file}: ${String(error)}`);
    }
  }

  private read(): Snapshot {
    const empty: Snapshot = { version: 1, leases: [], openSockets: {} };
    if (!existsSync(this.file)) return empty;
    try {
      const parsed = JSON.parse(readFileSync(this.file, 'utf8')) as Partial<Snapshot>;
      return { version: 1, leases: parsed.leases ?? [], openSockets: parsed.openSockets ?? {} };
    } catch (error) {
      // Not worth refusing to start over: the damaged file is kept aside for a look, the records start afresh.
      const aside = `${this.file}.unreadable-${Date.now()}`;
      renameSync(this.file, aside);
      this.logger.error(`${this.file} could not be read (${String(error)}); moved to ${aside}`);
      return empty;
    }
  }
}
