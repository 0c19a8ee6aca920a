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
  /** A lease on a run's live browser for the live-view page (the run must be its runtime's active run). */
  createLiveView: defineMethod(
    SERVICE,
    'cdp-proxy.v1.createLiveView',
    pb.CreateLiveViewRequestSchema,
    pb.ViewLeaseSchema,
  ),
  /** A lease on a run's recording for the replay page. */
  createRecordingView: defineMethod(
    SERVICE,
    'cdp-proxy.v1.createRecordingView',
    pb.CreateRecordingViewRequestSchema,
    pb.ViewLeaseSchema,
  ),
  /** Internal (operator): what a view token opens, or nothing. */
  resolveView: defineMethod(
    SERVICE,
    'cdp-proxy.v1.resolveView',
    pb.ResolveViewRequestSchema,
    pb.ResolveViewResponseSchema,
  ),
} as const;

export const VIEW_KINDS = ['live', 'recording'] as const;
export type ViewKind = (typeof VIEW_KINDS)[number];

export const CONNECTION_TYPES = ['cdp', 'webdriver'] as const;
export type ConnectionType = (typeof CONNECTION_TYPES)[number];
export const CONNECTION_STATUSES = ['active', 'revoked', 'expired', 'closed'] as const;
export type ConnectionStatus = (typeof CONNECTION_STATUSES)[number];
