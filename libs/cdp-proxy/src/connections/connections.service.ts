import { randomBytes } from 'node:crypto';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { CONNECTION_TYPES, connectionsV1, type ConnectionType, RunEvent, RuntimesV1 } from '@bctrl/contracts';
import {
  BctrlError,
  canSeeSpaceResource,
  decodeCursor,
  isId,
  newId,
  pageLimit,
  type Principal,
  requireKey,
  toPageMessage,
} from '@bctrl/core';
import { TRANSPORT, type Transport } from '@bctrl/transport';
import { ConnectionEvents } from '../cdp/connection-events';
import { CDP_PROXY_OPTIONS, type CdpProxyOptions, CONNECTION_EVENTS, LEASE_STORE } from '../cdp-proxy.options';
import { type ConnectionLease, connectionStatus, isConnectionLease, type LeaseStore } from '../leases/lease-store';

const iso = (ms: number | null) => (ms === null ? '' : new Date(ms).toISOString());

/**
 * A lease's token is a credential: only the create answer carries it, to whoever created the connection. Reads and
 * lists (which a viewer may make) render the connection without it, so they carry no usable URL.
 */
export function renderConnection(
  lease: ConnectionLease,
  reveal: 'with-token' | 'without-token' = 'without-token',
): MessageInitShape<typeof connectionsV1.ConnectionSchema> {
  const status = connectionStatus(lease);
  return {
    id: lease.id,
    runtimeId: lease.runtimeId,
    spaceId: lease.spaceId,
    accountId: lease.accountId,
    subaccountId: lease.subaccountId ?? '',
    runId: lease.runId,
    type: lease.type,
    status,
    createdAt: iso(lease.createdAt),
    expiresAt: iso(lease.expiresAt),
    endedAt: iso(lease.endedAt ?? (status === 'expired' ? lease.expiresAt : null)),
    endReason: status === 'active' ? '' : status === 'expired' ? 'expired' : (lease.endReason ?? ''),
    token: reveal === 'with-token' && status === 'active' ? lease.token : '',
  };
}

/**
 * Connections: create (a lease on a ready runtime the key may drive), read, list, revoke. The lease is all the
 * proxy needs to admit a socket; revoking it closes that connection's sockets on every replica.
 */
@Injectable()
export class ConnectionsService {
  private readonly logger = new Logger('Connections');

  constructor(
    @Inject(TRANSPORT) private readonly transport: Transport,
    @Inject(LEASE_STORE) private readonly store: LeaseStore,
    @Inject(CDP_PROXY_OPTIONS) private readonly options: CdpProxyOptions,
    @Inject(CONNECTION_EVENTS) private readonly events: ConnectionEvents,
  ) {}

  async create(principal: Principal, request: connectionsV1.CreateConnectionRequest) {
    const key = requireKey(principal, 'member');
    const type = (request.type || 'cdp') as ConnectionType;
    if (!CONNECTION_TYPES.includes(type)) {
      throw BctrlError.validation([{ field: 'type', issue: `must be one of ${CONNECTION_TYPES.join(', ')}` }]);
    }
    const ttlSeconds = request.ttlSeconds || this.options.defaultTtlSeconds;
    if (ttlSeconds < 10 || ttlSeconds > this.options.maxTtlSeconds) {
      throw BctrlError.validation([
        { field: 'ttlSeconds', issue: `must be from 10 to ${this.options.maxTtlSeconds} seconds` },
      ]);
    }
    if (!isId('runtime', request.runtimeId)) throw BctrlError.notFound('runtime');
    // The orchestrator decides visibility and readiness with the caller's own key.
    const { runtime, cdpUrl, webdriverUrl, webdriverToken } = await this.transport.request(
      RuntimesV1.endpoint,
      { runtimeId: request.runtimeId },
      { principal: key },
    );
    if (!runtime) throw BctrlError.notFound('runtime');
    if (type === 'webdriver' && !webdriverUrl) {
      throw new BctrlError('invalid_state', 'The runtime has no WebDriver relay; use a cdp connection.');
    }
    const now = Date.now();
    const lease: ConnectionLease = {
      id: newId('connection'),
      token: randomBytes(32).toString('base64url'),
      type,
      runtimeId: runtime.id,
      spaceId: runtime.spaceId,
      accountId: runtime.accountId,
      subaccountId: runtime.subaccountId || null,
      runId: runtime.activeRunId,
      cdpUrl,
      createdAt: now,
      expiresAt: now + ttlSeconds * 1000,
      endedAt: null,
      endReason: null,
      ...(type === 'webdriver' ? { webdriver: { url: webdriverUrl, token: webdriverToken } } : {}),
    };
    await this.store.put(lease);
    return renderConnection(lease, 'with-token');
  }

  async get(principal: Principal, connectionId: string) {
    return renderConnection(await this.findVisible(principal, connectionId, 'viewer'));
  }

  async list(principal: Principal, request: connectionsV1.ListConnectionsRequest) {
    const key = requireKey(principal, 'viewer');
    const limit = pageLimit(request.page?.limit);
    const after = request.page?.cursor ? decodeCursor(request.page.cursor) : null;
    if (!isId('runtime', request.runtimeId)) throw BctrlError.notFound('runtime');
    // An invisible runtime lists as not found, exactly like a missing one.
    await this.transport.request(RuntimesV1.get, { runtimeId: request.runtimeId }, { principal: key });
    const rows = (await this.store.listByRuntime(request.runtimeId))
      .filter((lease) => isConnectionLease(lease) && canSeeSpaceResource(key, lease))
      .map((lease) => ({ lease, id: lease.id, createdAt: new Date(lease.createdAt) }))
      .filter(
        (row) =>
          !after ||
          row.createdAt < after.createdAt ||
          (row.createdAt.getTime() === after.createdAt.getTime() && row.id < after.id),
      )
      .slice(0, limit + 1);
    return toPageMessage(rows, limit, (row) => renderConnection(row.lease));
  }

  async revoke(principal: Principal, connectionId: string) {
    const lease = await this.findVisible(principal, connectionId, 'member');
    const ended = await this.store.end(lease.id, 'revoked');
    if (ended) await this.events.publish(ended, RunEvent.connectionRevoked, { connectionId: ended.id });
    // Revoking an ended connection changes nothing and is not an error: DELETE is idempotent.
    return renderConnection(ended ?? (await this.store.get(lease.id)) ?? lease);
  }

  /** The runtime stopped (or failed): its connections end with it, and their sockets close everywhere. */
  async endRuntime(runtimeId: string): Promise<number> {
    const ended = await this.store.endRuntime(runtimeId, 'runtime_stopped');
    if (ended.length) this.logger.log(`closed ${ended.length} connections of stopped runtime ${runtimeId}`);
    return ended.length;
  }

  private async findVisible(principal: Principal, connectionId: string, role: 'viewer' | 'member') {
    const key = requireKey(principal, 'viewer');
    const lease = isId('connection', connectionId) ? await this.store.get(connectionId) : null;
    if (!lease || !isConnectionLease(lease) || !canSeeSpaceResource(key, lease))
      throw BctrlError.notFound('connection');
    requireKey(principal, role);
    return lease;
  }
}
