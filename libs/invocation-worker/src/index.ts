export * from './invocation-worker.definition';
