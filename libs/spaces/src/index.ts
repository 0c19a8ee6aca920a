export * from './spaces.module';
export { SPACES_DB_SCHEMA } from './db/spaces-db';
export * from './spaces.settings';
