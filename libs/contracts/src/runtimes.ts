import * as pb from './generated/bctrl/runtimes/v1/runtimes_pb';
import { defineMethod } from './method';

const SERVICE = 'runtime-orchestrator';

/** Wire names are frozen: a breaking change gets a v2 subject, never an edit. */
export const RuntimesV1 = {
  create: defineMethod(SERVICE, 'runtime-orchestrator.v1.create', pb.CreateRuntimeRequestSchema, pb.RuntimeSchema),
  get: defineMethod(SERVICE, 'runtime-orchestrator.v1.get', pb.GetRuntimeRequestSchema, pb.RuntimeSchema),
  list: defineMethod(
    SERVICE,
    'runtime-orchestrator.v1.list',
    pb.ListRuntimesRequestSchema,
    pb.ListRuntimesResponseSchema,
  ),
  keepalive: defineMethod(SERVICE, 'runtime-orchestrator.v1.keepalive', pb.KeepaliveRequestSchema, pb.RuntimeSchema),
  stop: defineMethod(SERVICE, 'runtime-orchestrator.v1.stop', pb.StopRuntimeRequestSchema, pb.RuntimeSchema),
  countLive: defineMethod(
    SERVICE,
    'runtime-orchestrator.v1.countLive',
    pb.SpaceRuntimesRequestSchema,
    pb.CountLiveRuntimesResponseSchema,
  ),
  stopSpace: defineMethod(
    SERVICE,
    'runtime-orchestrator.v1.stopSpace',
    pb.SpaceRuntimesRequestSchema,
    pb.StopSpaceRuntimesResponseSchema,
  ),
  /** Internal (spaces): the live runtimes of a space started with a proxy, which must not be deleted meanwhile. */
  liveUsing: defineMethod(
    SERVICE,
    'runtime-orchestrator.v1.liveUsing',
    pb.RuntimesUsingRequestSchema,
    pb.RuntimesUsingResponseSchema,
  ),
  /** Internal (cdp-proxy): a ready runtime the caller's key may use, with its browser's CDP URL. */
  endpoint: defineMethod(
    SERVICE,
    'runtime-orchestrator.v1.endpoint',
    pb.RuntimeEndpointRequestSchema,
    pb.RuntimeEndpointSchema,
  ),
  /** Internal, operator only: activity on these runtimes (open connections) pushes back their idle stop. */
  touch: defineMethod(
    SERVICE,
    'runtime-orchestrator.v1.touch',
    pb.TouchRuntimesRequestSchema,
    pb.TouchRuntimesResponseSchema,
  ),
  stageFile: defineMethod(
    SERVICE,
    'runtime-orchestrator.v1.stageFile',
    pb.StageFileRequestSchema,
    pb.StageFileResponseSchema,
  ),
  collectFile: defineMethod(
    SERVICE,
    'runtime-orchestrator.v1.collectFile',
    pb.CollectFileRequestSchema,
    pb.CollectFileResponseSchema,
  ),
  listFiles: defineMethod(
    SERVICE,
    'runtime-orchestrator.v1.listFiles',
    pb.ListRuntimeFilesRequestSchema,
    pb.ListRuntimeFilesResponseSchema,
  ),
} as const;

export const RUNTIME_STATUSES = ['pending', 'starting', 'ready', 'stopping', 'stopped', 'failed'] as const;
export type RuntimeStatus = (typeof RUNTIME_STATUSES)[number];
export const LIVE_RUNTIME_STATUSES: readonly RuntimeStatus[] = ['pending', 'starting', 'ready', 'stopping'];
export const STOP_REASONS = ['requested', 'timeout', 'idle', 'crashed', 'budget'] as const;
export type StopReason = (typeof STOP_REASONS)[number];
