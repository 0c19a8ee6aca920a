export * from './local';
export { fallbackDirOf, removeFallbackDir } from './embedded-postgres';
