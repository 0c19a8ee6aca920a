export * from './method';
export * from './health';
export * from './generated/bctrl/common/v1/common_pb';
