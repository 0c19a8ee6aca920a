/**
 * Real resources for probes of the public API to point at: without ids that exist, every route that takes
 * one answers 404 before it reads anything else, and a fuzzer or a tenant matrix would only ever test that.
 * Everything is made through the public API with an admin key, as a tenant would.
 */

import { randomBytes } from 'node:crypto';

export interface ApiAnswer {
  status: number;
  headers: Headers;
  /** The parsed JSON body, or the text when the body is not JSON. */
  body: unknown;
  text: string;
}

export type Api = (
  method: string,
  path: string,
  body?: unknown,
  headers?: Record<string, string>,
) => Promise<ApiAnswer>;

/** A small client of the public API for one key; a body that is a Buffer goes raw, anything else as JSON. */
export function apiClient(baseUrl: string, key: string): Api {
  return async (method, path, body, headers = {}) => {
    const raw = Buffer.isBuffer(body);
    const response = await fetch(new URL(path, baseUrl), {
      method,
      redirect: 'manual',
      headers: {
        Authorization: `Bearer ${key}`,
        ...(body === undefined ? {} : { 'Content-Type': raw ? 'application/octet-stream' : 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : raw ? new Uint8Array(body) : JSON.stringify(body),
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: keep the text
    }
    return { status: response.status, headers: response.headers, body: parsed, text };
  };
}

/** The answer's body when its status is the expected one; otherwise an error naming the call and its answer. */
export async function expectStatus<T = Record<string, unknown>>(
  call: Promise<ApiAnswer>,
  status: number,
  what: string,
): Promise<T> {
  const answer = await call;
  if (answer.status !== status) {
    throw new Error(`${what}: expected ${status}, got ${answer.status} ${answer.text.slice(0, 500)}`);
  }
  return answer.body as T;
}

export interface SeededSpace {
  spaceId: string;
  /** A live runtime, status `ready`, with a long timeout so it outlives the probes. */
  runtimeId: string;
  /** The run the ready runtime's start opened. */
  runId: string;
  /** An active CDP connection to the runtime. */
  connectionId: string;
  /** A storage object with known bytes. */
  storagePath: string;
  storageBytes: Buffer;
  /** A `file` artifact of the run, collected from the runtime's work area. */
  artifactId: string;
  /** The same file's path inside the runtime, after staging. */
  runtimePath: string;
  /** A vault secret of the space (its value is random and known to nobody). */
  secretId: string;
  /** A proxy of the space with that secret as its password (nothing listens where it points). */
  proxyId: string;
  /** An AI connection using that secret, whose provider is unreachable (a test of it answers 422 at once). */
  aiConnectionId: string;
}

/**
 * A space holding one of everything a route takes an id for: a ready runtime, its run, a connection, a
 * storage object and an artifact. The artifact comes from staging the object into the runtime and
 * collecting it back with `registerArtifact`, the cheapest way the API offers to make one.
 */
export async function seedSpace(api: Api, name: string, extra: Record<string, unknown> = {}): Promise<SeededSpace> {
  const space = await expectStatus<{ id: string }>(api('POST', '/v1/spaces', { name, ...extra }), 201, 'create space');
  // Long timeouts: the runtime must still be ready when the last probe reads it.
  const runtime = await expectStatus<{ id: string; status: string; activeRunId: string }>(
    api('POST', `/v1/spaces/${space.id}/runtimes?wait=true`, {
      type: 'browser',
      timeoutSeconds: 3600,
      idleTimeoutSeconds: 3600,
    }),
    201,
    'create runtime',
  );
  if (runtime.status !== 'ready') throw new Error(`seeded runtime is ${runtime.status}, not ready`);
  const connection = await expectStatus<{ id: string }>(
    api('POST', `/v1/runtimes/${runtime.id}/connections`, { type: 'cdp', ttlSeconds: 3600 }),
    201,
    'create connection',
  );
  // One segment: schemathesis never sends a `/` (or `%2F`) in a path parameter, so a nested path could not be
  // drawn from a dictionary.
  const storagePath = 'seed-hello.txt';
  const storageBytes = Buffer.from(`seeded bytes of ${name}\n`);
  await expectStatus(api('PUT', `/v1/spaces/${space.id}/storage/${storagePath}`, storageBytes), 200, 'put object');
  const staged = await expectStatus<{ runtimePath: string }>(
    api('POST', `/v1/runtimes/${runtime.id}/files/stage`, { storagePath }),
    200,
    'stage file',
  );
  const collected = await expectStatus<{ artifactId?: string }>(
    api('POST', `/v1/runtimes/${runtime.id}/files/collect`, {
      runtimePath: staged.runtimePath,
      storagePath: 'seed-collected.txt',
      registerArtifact: true,
    }),
    200,
    'collect file',
  );
  if (!collected.artifactId) throw new Error('collect with registerArtifact answered no artifactId');
  const secret = await expectStatus<{ id: string }>(
    api('POST', `/v1/spaces/${space.id}/secrets`, { name: 'seed-secret', value: randomBytes(24).toString('hex') }),
    201,
    'create secret',
  );
  const proxy = await expectStatus<{ id: string }>(
    api('POST', `/v1/spaces/${space.id}/proxies`, {
      name: 'seed-proxy',
      server: 'http://127.0.0.1:9',
      username: 'seed',
      passwordSecretId: secret.id,
    }),
    201,
    'create proxy',
  );
  const aiConnection = await expectStatus<{ id: string }>(
    api('POST', `/v1/spaces/${space.id}/ai-connections`, {
      name: 'seed-ai',
      provider: 'openai-compatible',
      model: 'seed-model',
      // Port 9 (discard) on loopback: nothing listens, so a test call is refused at once, never a hang.
      baseUrl: 'http://127.0.0.1:9/v1',
      apiKeySecretId: secret.id,
    }),
    201,
    'create AI connection',
  );
  return {
    spaceId: space.id,
    runtimeId: runtime.id,
    runId: runtime.activeRunId,
    connectionId: connection.id,
    storagePath,
    storageBytes,
    artifactId: collected.artifactId,
    runtimePath: staged.runtimePath,
    secretId: secret.id,
    proxyId: proxy.id,
    aiConnectionId: aiConnection.id,
  };
}

/** Creates an API key and answers its id and secret. */
export async function createKey(api: Api, body: Record<string, unknown>): Promise<{ id: string; secret: string }> {
  return expectStatus<{ id: string; secret: string }>(
    api('POST', '/v1/api-keys', body),
    201,
    `create key ${body.name}`,
  );
}
