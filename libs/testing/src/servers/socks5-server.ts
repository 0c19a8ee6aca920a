import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';

export interface Socks5Server {
  /** `socks5://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** `host:port` of every CONNECT it carried, in order. */
  readonly connects: string[];
  close(): Promise<void>;
}

const VERSION = 0x05;
const NO_AUTH = 0x00;
const NO_ACCEPTABLE_METHOD = 0xff;
const CMD_CONNECT = 0x01;
const ATYP_IPV4 = 0x01;
const ATYP_DOMAIN = 0x03;
const ATYP_IPV6 = 0x04;
const REPLY_OK = 0x00;
const REPLY_FAILURE = 0x01;
const REPLY_COMMAND_NOT_SUPPORTED = 0x07;

/**
 * A minimal real SOCKS5 server (RFC 1928) on loopback, for tests: no authentication, CONNECT only, IPv4, IPv6 and
 * domain addresses. It records every CONNECT it carried, so a test can show a browser's traffic went through it.
 */
export async function startSocks5Server(host = '127.0.0.1'): Promise<Socks5Server> {
  const connects: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    sockets.add(client);
    client.once('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    let buffer = Buffer.alloc(0);
    let stage: 'greeting' | 'request' | 'piping' = 'greeting';
    const onData = (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (stage === 'greeting') {
        if (buffer.length < 2) return;
        const count = buffer[1] as number;
        if (buffer.length < 2 + count) return;
        const methods = buffer.subarray(2, 2 + count);
        buffer = buffer.subarray(2 + count);
        if (!methods.includes(NO_AUTH)) {
          client.end(Buffer.from([VERSION, NO_ACCEPTABLE_METHOD]));
          return;
        }
        client.write(Buffer.from([VERSION, NO_AUTH]));
        stage = 'request';
      }
      if (stage === 'request') {
        const parsed = parseRequest(buffer);
        if (!parsed) return;
        stage = 'piping';
        client.off('data', onData);
        if (parsed.command !== CMD_CONNECT) {
          client.end(reply(REPLY_COMMAND_NOT_SUPPORTED));
          return;
        }
        const rest = buffer.subarray(parsed.length);
        const upstream = connect(parsed.port, parsed.host, () => {
          connects.push(`${parsed.host}:${parsed.port}`);
          client.write(reply(REPLY_OK));
          if (rest.length > 0) upstream.write(rest);
          upstream.pipe(client);
          client.pipe(upstream);
        });
        sockets.add(upstream);
        upstream.once('close', () => sockets.delete(upstream));
        upstream.on('error', () => {
          if (client.writable) client.end(reply(REPLY_FAILURE));
        });
        client.on('error', () => upstream.destroy());
      }
    };
    client.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `socks5://${host}:${port}`,
    port,
    connects,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

function parseRequest(buffer: Buffer): { command: number; host: string; port: number; length: number } | null {
  if (buffer.length < 5) return null;
  const command = buffer[1] as number;
  const type = buffer[3] as number;
  let host: string;
  let offset: number;
  if (type === ATYP_IPV4) {
    if (buffer.length < 10) return null;
    host = [...buffer.subarray(4, 8)].join('.');
    offset = 8;
  } else if (type === ATYP_DOMAIN) {
    const size = buffer[4] as number;
    if (buffer.length < 5 + size + 2) return null;
    host = buffer.subarray(5, 5 + size).toString('latin1');
    offset = 5 + size;
  } else if (type === ATYP_IPV6) {
    if (buffer.length < 22) return null;
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(buffer.readUInt16BE(4 + i).toString(16));
    host = groups.join(':');
    offset = 20;
  } else {
    return { command: -1, host: '', port: 0, length: buffer.length };
  }
  return { command, host, port: buffer.readUInt16BE(offset), length: offset + 2 };
}

/** A reply with the unspecified IPv4 address as the bound address: clients (Chromium) do not use it. */
function reply(code: number): Buffer {
  return Buffer.from([VERSION, code, 0x00, ATYP_IPV4, 0, 0, 0, 0, 0, 0]);
}
