export * from './servers/process';
export * from './servers/redis';
export * from './servers/nats';
export * from './servers/postgres';
export * from './otlp-receiver';
export * from './servers/databases';
export * from './servers/s3';
export * from './wait';
