import { Inject, Injectable, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { ConnectionsV1, RunEvent, runsV1 } from '@bctrl/contracts';
import { bindHandlers, handle } from '@bctrl/service';
import { type Closable, TRANSPORT, type Transport } from '@bctrl/transport';
import { CdpEndpoint } from './cdp/cdp-endpoint';
import { CDP_ENDPOINT, LEASE_STORE } from './cdp-proxy.options';
import { ConnectionsService } from './connections/connections.service';
import type { LeaseStore } from './leases/lease-store';
import { ViewsService } from './views/views.service';

/** A runtime leaving `ready` takes its connections with it. */
const RUNTIME_ENDS: ReadonlySet<string> = new Set([
  RunEvent.runtimeStopping,
  RunEvent.runtimeStopped,
  RunEvent.runtimeFailed,
]);

/**
 * cdp-proxy's side of its contracts (connections and view leases, each subject answered by one service method), the
 * runtime ends it follows to end their connections, and the endpoint's start and stop around them.
 */
@Injectable()
export class CdpProxyHandlers implements OnApplicationBootstrap, OnModuleDestroy {
  private subscriptions: Closable[] = [];

  constructor(
    @Inject(TRANSPORT) private readonly transport: Transport,
    @Inject(CDP_ENDPOINT) private readonly endpoint: CdpEndpoint,
    @Inject(LEASE_STORE) private readonly store: LeaseStore,
    private readonly connections: ConnectionsService,
    private readonly views: ViewsService,
  ) {}

  async onApplicationBootstrap() {
    await this.endpoint.start();
    this.subscriptions.push(
      bindHandlers(this.transport, [
        handle(ConnectionsV1.create, (req, ctx) => this.connections.create(ctx.principal, req)),
        handle(ConnectionsV1.get, (req, ctx) => this.connections.get(ctx.principal, req.connectionId)),
        handle(ConnectionsV1.list, (req, ctx) => this.connections.list(ctx.principal, req)),
        handle(ConnectionsV1.revoke, (req, ctx) => this.connections.revoke(ctx.principal, req.connectionId)),
        handle(ConnectionsV1.createLiveView, (req, ctx) => this.views.createLive(ctx.principal, req)),
        handle(ConnectionsV1.createRecordingView, (req, ctx) => this.views.createRecording(ctx.principal, req)),
        handle(ConnectionsV1.resolveView, (req, ctx) => this.views.resolve(ctx.principal, req)),
      ]),
      // Durable and shared by the replicas: each runtime end is handled once, and none is missed while all are down.
      await this.transport.consume(
        { durable: 'cdp-proxy-runtime-ends', filterSubject: 'runs.*.events', payload: runsV1.RunEventSchema },
        async (event) => {
          if (RUNTIME_ENDS.has(event.type)) await this.connections.endRuntime(event.runtimeId);
        },
      ),
    );
  }

  async onModuleDestroy() {
    for (const subscription of this.subscriptions.splice(0)) await subscription.close();
    await this.endpoint.close();
    await this.store.close();
  }
}
