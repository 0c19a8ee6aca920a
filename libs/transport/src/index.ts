export * from './transport';
export { InProcessTransport } from './in-process.transport';
export { NatsTransport } from './nats.transport';
export type { NatsTransportOptions } from './nats.transport';
export { createTransport } from './create-transport';
export type { TransportConfig } from './create-transport';
export { ERROR_HEADER, PRINCIPAL_HEADER, decodePrincipal, encodePrincipal } from './wire';
