export * from './method';
export * from './health';
export * from './spaces';
export * from './generated/bctrl/common/v1/common_pb';
export * as spacesV1 from './generated/bctrl/spaces/v1/spaces_pb';
export * from './agent';
export * from './runtimes';
export * as runtimesV1 from './generated/bctrl/runtimes/v1/runtimes_pb';
export * as runsV1 from './generated/bctrl/runs/v1/events_pb';
