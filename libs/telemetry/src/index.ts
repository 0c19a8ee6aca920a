export * from './start-telemetry';
export * from './trace-ids';
export * from './json-logger';
export * from './redact';
export * from './metrics';
