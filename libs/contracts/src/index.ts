export * from './method';
export * from './health';
export * from './spaces';
export * from './generated/bctrl/common/v1/common_pb';
export * as spacesV1 from './generated/bctrl/spaces/v1/spaces_pb';
export * from './agent';
