export * from './spaces.module';
export { SPACES_DB_SCHEMA } from './db/spaces-db';
export { RootBootstrap } from './accounts/root-bootstrap';
export * from './spaces.definition';
export * from './spaces.settings';
