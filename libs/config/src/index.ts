export * from './setting';
export * from './schemas';
export * from './load-config';
export * from './describe-config';
export * from './settings';
