export * from './browser-driver';
export * from './local-process.driver';
export * from './local-processes';
