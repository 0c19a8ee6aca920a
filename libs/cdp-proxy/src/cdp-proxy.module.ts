import { DynamicModule, Module } from '@nestjs/common';
import { TRANSPORT, type Transport } from '@bctrl/transport';
import { CdpEndpoint } from './cdp/cdp-endpoint';
import { ConnectionEvents, socketJournalOf } from './cdp/connection-events';
import { CdpProxyHandlers } from './cdp-proxy.handlers';
import {
  CDP_ENDPOINT,
  CDP_PROXY_OPTIONS,
  type CdpProxyOptions,
  CONNECTION_EVENTS,
  LEASE_STORE,
} from './cdp-proxy.options';
import { ConnectionsService } from './connections/connections.service';
import { CommandPublisher } from './recording/command-recorder';
import { ViewsService } from './views/views.service';

/** cdp-proxy: connections and view leases, the CDP WebSocket proxy, its command records, and live viewers. */
@Module({})
export class CdpProxyModule {
  static forRoot(options: CdpProxyOptions): DynamicModule {
    return {
      module: CdpProxyModule,
      providers: [
        { provide: CDP_PROXY_OPTIONS, useValue: options },
        { provide: LEASE_STORE, useValue: options.leaseStore },
        {
          provide: CONNECTION_EVENTS,
          useFactory: (transport: Transport) => new ConnectionEvents(transport, socketJournalOf(options.leaseStore)),
          inject: [TRANSPORT],
        },
        {
          provide: CDP_ENDPOINT,
          useFactory: (transport: Transport, events: ConnectionEvents) =>
            new CdpEndpoint({
              store: options.leaseStore,
              transport,
              publisher: new CommandPublisher(transport),
              events,
              heartbeatMs: options.heartbeatMs,
            }),
          inject: [TRANSPORT, CONNECTION_EVENTS],
        },
        ConnectionsService,
        ViewsService,
        CdpProxyHandlers,
      ],
      exports: [CDP_ENDPOINT],
    };
  }
}
