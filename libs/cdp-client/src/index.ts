export * from './cdp-session';
