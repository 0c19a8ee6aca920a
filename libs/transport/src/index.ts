export * from './transport';
export { InProcessTransport } from './in-process.transport';
export { ERROR_HEADER, PRINCIPAL_HEADER, decodePrincipal, encodePrincipal } from './wire';
