import * as pb from './generated/bctrl/connections/v1/connections_pb';
import { defineMethod } from './method';

const SERVICE = 'cdp-proxy';

/** Connections are leases cdp-proxy keeps; wire names are frozen like every other subject. */
export const ConnectionsV1 = {
  create: defineMethod(SERVICE, 'cdp-proxy.v1.createConnection', pb.CreateConnectionRequestSchema, pb.ConnectionSchema),
  get: defineMethod(SERVICE, 'cdp-proxy.v1.getConnection', pb.GetConnectionRequestSchema, pb.ConnectionSchema),
  list: defineMethod(
    SERVICE,
    'cdp-proxy.v1.listConnections',
    pb.ListConnectionsRequestSchema,
    pb.ListConnectionsResponseSchema,
  ),
  revoke: defineMethod(SERVICE, 'cdp-proxy.v1.revokeConnection', pb.RevokeConnectionRequestSchema, pb.ConnectionSchema),
} as const;

export const CONNECTION_TYPES = ['cdp', 'webdriver'] as const;
export type ConnectionType = (typeof CONNECTION_TYPES)[number];
export const CONNECTION_STATUSES = ['active', 'revoked', 'expired', 'closed'] as const;
export type ConnectionStatus = (typeof CONNECTION_STATUSES)[number];
