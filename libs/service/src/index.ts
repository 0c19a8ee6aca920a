export * from './handlers';
export * from './health';
export * from './platform.module';
export * from './service-definition';
export * from './service-process';
export * from './run-events';
