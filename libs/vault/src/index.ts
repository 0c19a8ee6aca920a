export * from './keyring';
export * from './envelope';
export * from './local-keys';
