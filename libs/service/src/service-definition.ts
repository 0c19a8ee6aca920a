import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { DynamicModule, INestApplicationContext } from '@nestjs/common';
import type { ConfigOf, SettingsTable } from '@bctrl/config';
import type { ServiceName } from '@bctrl/contracts';
import type { Transport } from '@bctrl/transport';

/** What a service's own code reads: its settings. Its process and local mode hand it a superset. */
export type ServiceConfig<S extends SettingsTable> = ConfigOf<S>;

/** What local mode, which composes every service in one process, gives each of them. */
export interface LocalContext {
  /** BCTRL_DATA_DIR: where local mode keeps what must outlive the process. */
  dataDir: string;
  /** The public URL, fixed by local mode after it listens (port 0 in tests and benches). */
  publicUrl: { value: string };
}

/** An HTTP surface a service serves besides NATS (bytes and WebSockets cannot go over NATS). */
export interface ServiceHttpEndpoint {
  handleRequest(req: IncomingMessage, res: ServerResponse): void;
  handleUpgrade?(req: IncomingMessage, socket: Duplex, head: Buffer): void;
}

/**
 * One service, as both of its compositions use it: its own app (distributed mode, `runService`) and local mode (every
 * service in one process). Everything that could differ between the two is here, so they cannot drift; what does
 * differ by design (Redis or memory, a forwarded or an in-process route) is the `adapters` pair, side by side.
 */
export interface ServiceDefinition<S extends SettingsTable = SettingsTable, A = void> {
  name: ServiceName;
  /**
   * The settings its own code reads. Its own process loads these and every service process's (NATS, health port,
   * log level…), no other: a gateway boots without a database URL.
   */
  settings: S;
  /** It owns tables: its migrations (`<lib>/prisma`) are applied before it serves, in either composition. */
  ownsTables: boolean;
  /** The adapters of each composition. */
  adapters: {
    distributed(config: ServiceConfig<S>): A;
    local(config: ServiceConfig<S>, context: LocalContext): A;
  };
  /** Its Nest modules, from its config and the composition's adapters. */
  modules(config: ServiceConfig<S>, adapters: A): DynamicModule[];
  /**
   * The extra HTTP server its own process runs. Local mode serves the same routes from the gateway's server
   * instead, in process (the gateway composes them; see libs/local).
   */
  http?: {
    port(config: ServiceConfig<S>): number;
    endpoint(app: INestApplicationContext): ServiceHttpEndpoint;
    /** Node's per-request timeout; 0 for a server whose requests stream for as long as they stay alive. */
    requestTimeoutMs?: number;
  };
  /** After the whole composition serves (every service's handlers are bound), in either composition. */
  started?(app: INestApplicationContext, adapters: A, transport: Transport): Promise<void>;
}

/** Checks a definition's shape at compile time and keeps its adapter type; nothing happens at run time. */
export function defineService<S extends SettingsTable, A = void>(definition: ServiceDefinition<S, A>) {
  return definition;
}

/** Any definition, for code that composes several (local mode), whatever its settings and adapters. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyServiceDefinition = ServiceDefinition<any, any>;
