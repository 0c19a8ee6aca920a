import { randomBytes } from 'node:crypto';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { Inject, Injectable } from '@nestjs/common';
import { connectionsV1, RunsV1, RuntimesV1, VIEW_KINDS, type ViewKind } from '@bctrl/contracts';
import { BctrlError, isId, newId, type Principal, requireKey, requireOperator } from '@bctrl/core';
import { TRANSPORT, type Transport } from '@bctrl/transport';
import { CDP_PROXY_OPTIONS, type CdpProxyOptions, LEASE_STORE } from '../cdp-proxy.options';
import type { ConnectionLease, LeaseStore } from '../leases/lease-store';

const LEASE_TYPE = { live: 'live_view', recording: 'recording_view' } as const satisfies Record<ViewKind, string>;

/** View links are for a person watching: shorter defaults than API connections, the same ceiling. */
const DEFAULT_VIEW_TTL_SECONDS = 900;
const MIN_VIEW_TTL_SECONDS = 10;

export function renderViewLease(lease: ConnectionLease): MessageInitShape<typeof connectionsV1.ViewLeaseSchema> {
  return {
    id: lease.id,
    kind: lease.type === 'live_view' ? 'live' : 'recording',
    runId: lease.runId,
    runtimeId: lease.runtimeId,
    spaceId: lease.spaceId,
    accountId: lease.accountId,
    subaccountId: lease.subaccountId ?? '',
    interactive: lease.interactive ?? false,
    expiresAt: new Date(lease.expiresAt).toISOString(),
    token: lease.token,
  };
}

/**
 * Live-view and recording-view leases: the tokens behind the pages the gateway serves. They live in the lease
 * store beside connections, so a runtime stop ends a live view exactly as it ends that runtime's connections.
 */
@Injectable()
export class ViewsService {
  constructor(
    @Inject(TRANSPORT) private readonly transport: Transport,
    @Inject(LEASE_STORE) private readonly store: LeaseStore,
    @Inject(CDP_PROXY_OPTIONS) private readonly options: CdpProxyOptions,
  ) {}

  async createLive(principal: Principal, request: connectionsV1.CreateLiveViewRequest) {
    // Watching drives nothing, but it shows everything the browser shows: the same role as a connection.
    const key = requireKey(principal, 'member');
    const ttlSeconds = this.ttl(request.ttlSeconds);
    if (!isId('run', request.runId)) throw BctrlError.notFound('run');
    // The orchestrator answers by run: visibility, the run still being its runtime's active one, and readiness.
    let endpoint;
    try {
      endpoint = await this.transport.request(
        RuntimesV1.endpoint,
        { runtimeId: '', runId: request.runId },
        { principal: key },
      );
    } catch (error) {
      // A run the orchestrator no longer holds may still be on record: then it has ended, which is a state error.
      if (error instanceof BctrlError && error.code === 'not_found' && (await this.runExists(key, request.runId))) {
        throw new BctrlError('invalid_state', 'The run has ended; a live view needs a live run.');
      }
      throw error;
    }
    const { runtime, cdpUrl } = endpoint;
    if (!runtime) throw BctrlError.notFound('run');
    return renderViewLease(
      await this.put({
        type: 'live_view',
        runtimeId: runtime.id,
        spaceId: runtime.spaceId,
        accountId: runtime.accountId,
        subaccountId: runtime.subaccountId || null,
        runId: request.runId,
        cdpUrl,
        interactive: request.interactive,
        ttlSeconds,
      }),
    );
  }

  async createRecording(principal: Principal, request: connectionsV1.CreateRecordingViewRequest) {
    // A recording-view link is shareable: whoever holds it watches the run without a key. Handing one out is
    // sharing the run beyond the key's own reach, so it takes a member, as a live-view link does.
    const key = requireKey(principal, 'member');
    const ttlSeconds = this.ttl(request.ttlSeconds);
    if (!isId('run', request.runId)) throw BctrlError.notFound('run');
    const run = await this.transport.request(RunsV1.get, { runId: request.runId }, { principal: key });
    return renderViewLease(
      await this.put({
        type: 'recording_view',
        runtimeId: run.runtimeId,
        spaceId: run.spaceId,
        accountId: run.accountId,
        subaccountId: run.subaccountId || null,
        runId: run.id,
        cdpUrl: '',
        interactive: false,
        ttlSeconds,
      }),
    );
  }

  /** Internal: what a view token opens. Unknown, expired, revoked and other-kind tokens all resolve to nothing. */
  async resolve(principal: Principal, request: connectionsV1.ResolveViewRequest) {
    requireOperator(principal);
    const kind = request.kind as ViewKind;
    if (!VIEW_KINDS.includes(kind))
      throw BctrlError.validation([{ field: 'kind', issue: 'must be live or recording' }]);
    const lease = request.token ? await this.store.byToken(request.token) : null;
    return { lease: lease && lease.type === LEASE_TYPE[kind] ? renderViewLease(lease) : undefined };
  }

  private ttl(requested: number): number {
    const ttlSeconds = requested || Math.min(DEFAULT_VIEW_TTL_SECONDS, this.options.maxTtlSeconds);
    if (ttlSeconds < MIN_VIEW_TTL_SECONDS || ttlSeconds > this.options.maxTtlSeconds) {
      throw BctrlError.validation([
        { field: 'ttlSeconds', issue: `must be from ${MIN_VIEW_TTL_SECONDS} to ${this.options.maxTtlSeconds} seconds` },
      ]);
    }
    return ttlSeconds;
  }

  private async put(
    fields: Omit<ConnectionLease, 'id' | 'token' | 'createdAt' | 'expiresAt' | 'endedAt' | 'endReason'> & {
      ttlSeconds: number;
    },
  ): Promise<ConnectionLease> {
    const { ttlSeconds, ...rest } = fields;
    const now = Date.now();
    const lease: ConnectionLease = {
      ...rest,
      id: newId('viewLease'),
      token: randomBytes(32).toString('base64url'),
      createdAt: now,
      expiresAt: now + ttlSeconds * 1000,
      endedAt: null,
      endReason: null,
    };
    await this.store.put(lease);
    return lease;
  }

  private async runExists(principal: Principal, runId: string): Promise<boolean> {
    try {
      await this.transport.request(RunsV1.get, { runId }, { principal });
      return true;
    } catch {
      return false;
    }
  }
}
