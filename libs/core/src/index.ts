export * from './errors';
export * from './ids';
export * from './page';
export * from './principal';
