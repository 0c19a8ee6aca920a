import { InProcessTransport } from './in-process.transport';
import { NatsTransport } from './nats.transport';
import type { Transport } from './transport';

export type TransportConfig = { kind: 'nats'; url: string; name: string } | { kind: 'in-process' };

/**
 * Each call makes a new transport. In local mode the composition root must create one and hand the same
 * instance to every service, since separate in-process transports do not see each other.
 */
export async function createTransport(config: TransportConfig): Promise<Transport> {
  switch (config.kind) {
    case 'nats':
      return NatsTransport.connect({ servers: config.url, name: config.name });
    case 'in-process':
      return new InProcessTransport();
  }
}
