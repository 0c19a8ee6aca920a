export * from './errors';
export * from './ids';
export * from './page';
export * from './principal';
export * from './validation';
export * from './api-key';
export * from './storage-path';
