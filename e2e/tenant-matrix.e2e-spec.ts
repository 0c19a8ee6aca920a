import { createHash } from 'node:crypto';
import { Platform, startLocalPlatform } from './platform';
import { Api, apiClient, createKey, expectStatus, SeededSpace, seedSpace } from './seed';

/**
 * The tenant-and-role matrix, generated from the served `/openapi.json`: every operation under /v1 is called
 * with three keys that must not get at subaccount A's resources — an admin key of another subaccount, an
 * admin key limited to another space of A, and a viewer key of A's own space — and the answers are held to
 * the tenancy rules of API.md. A new route without a probe rule below fails the first test, so the matrix
 * grows with the API.
 */

type KeyKind = 'foreign-subaccount-admin' | 'other-space-admin' | 'same-space-viewer';

interface ProbeRule {
  /**
   * `account`: the route names nothing of A in its path (lists and creates at the account's level); the
   * probe then checks the answer shows nothing of A, and that a create aimed at A (by its body) is refused.
   * Default `resource`: the path names one of A's resources, which a foreign key must not learn exists.
   */
  scope?: 'account';
  /** Routes for an admin key not limited to spaces (subaccounts, API keys): any other key gets 403. */
  adminOnly?: boolean;
  /** A write that creates something under its path (runtimes of a space, connections of a runtime, ...). */
  collection?: boolean;
  /** The body, when the schema's required fields are not enough (ids of A, a real storage path). */
  body?: (s: Seeds) => unknown;
  query?: Record<string, string>;
}

/**
 * One rule per operation. Reads (GET, HEAD) need a viewer; every other method is a write that needs at least
 * a member. Bodies aim at A wherever a body can name an owner, so that a wrongly accepted write would land
 * in A and show in the state check at the end.
 */
const RULES: Record<string, ProbeRule> = {
  'POST /v1/spaces': {
    scope: 'account',
    collection: true,
    body: (s) => ({ name: 'probe', subaccountId: s.subaccountId }),
  },
  'GET /v1/spaces': { scope: 'account' },
  'GET /v1/spaces/{spaceId}': {},
  'PATCH /v1/spaces/{spaceId}': { body: () => ({ name: 'probe-renamed' }) },
  'DELETE /v1/spaces/{spaceId}': { query: { force: 'true' } },
  'POST /v1/subaccounts': { scope: 'account', adminOnly: true, collection: true },
  'GET /v1/subaccounts': { scope: 'account', adminOnly: true },
  'GET /v1/subaccounts/{subaccountId}': { adminOnly: true },
  'PATCH /v1/subaccounts/{subaccountId}': { adminOnly: true, body: () => ({ name: 'probe-renamed' }) },
  'DELETE /v1/subaccounts/{subaccountId}': { adminOnly: true },
  'POST /v1/api-keys': {
    scope: 'account',
    adminOnly: true,
    collection: true,
    body: (s) => ({ name: 'probe', role: 'admin', subaccountId: s.subaccountId, spaceIds: [s.spaceId] }),
  },
  'GET /v1/api-keys': { scope: 'account', adminOnly: true },
  'DELETE /v1/api-keys/{keyId}': { adminOnly: true },
  'POST /v1/spaces/{spaceId}/runtimes': { collection: true },
  'GET /v1/spaces/{spaceId}/runtimes': {},
  'GET /v1/runtimes/{runtimeId}': {},
  'POST /v1/runtimes/{runtimeId}/keepalive': {},
  'POST /v1/runtimes/{runtimeId}/stop': {},
  'POST /v1/runtimes/{runtimeId}/connections': { collection: true },
  'GET /v1/runtimes/{runtimeId}/connections': {},
  'GET /v1/connections/{connectionId}': {},
  'DELETE /v1/connections/{connectionId}': {},
  'GET /v1/spaces/{spaceId}/storage': {},
  'PUT /v1/spaces/{spaceId}/storage/{path}': { collection: true },
  'HEAD /v1/spaces/{spaceId}/storage/{path}': {},
  'GET /v1/spaces/{spaceId}/storage/{path}': {},
  'DELETE /v1/spaces/{spaceId}/storage/{path}': {},
  'GET /v1/runs/{runId}/artifacts': {},
  'GET /v1/artifacts/{artifactId}': {},
  'GET /v1/artifacts/{artifactId}/content': {},
  'GET /v1/spaces/{spaceId}/runs': {},
  'GET /v1/runs/{runId}': {},
  'GET /v1/runs/{runId}/events': {},
  'GET /v1/runs/{runId}/commands': {},
  'POST /v1/runs/{runId}/live-view': { collection: true },
  'POST /v1/runs/{runId}/recording-view': { collection: true },
  'POST /v1/runtimes/{runtimeId}/files/stage': { body: (s) => ({ storagePath: s.storagePath }) },
  'POST /v1/runtimes/{runtimeId}/files/collect': {
    body: (s) => ({ runtimePath: s.runtimePath, storagePath: 'probe-collected.txt', registerArtifact: true }),
  },
  'GET /v1/runtimes/{runtimeId}/files': {},
  'POST /v1/spaces/{spaceId}/secrets': { collection: true, body: () => ({ name: 'probe-secret', value: 'probe' }) },
  'GET /v1/spaces/{spaceId}/secrets': {},
  'GET /v1/secrets/{secretId}': {},
  'PATCH /v1/secrets/{secretId}': { body: () => ({ name: 'probe-renamed' }) },
  'PUT /v1/secrets/{secretId}/value': { body: () => ({ value: 'probe-rotated' }) },
  'DELETE /v1/secrets/{secretId}': {},
  'POST /v1/spaces/{spaceId}/proxies': {
    collection: true,
    body: () => ({ name: 'probe-proxy', server: 'http://127.0.0.1:9' }),
  },
  'GET /v1/spaces/{spaceId}/proxies': {},
  'GET /v1/proxies/{proxyId}': {},
  'PATCH /v1/proxies/{proxyId}': { body: () => ({ name: 'probe-renamed' }) },
  'DELETE /v1/proxies/{proxyId}': {},
  'POST /v1/spaces/{spaceId}/ai-connections': {
    collection: true,
    body: (s) => ({ name: 'probe-ai', provider: 'openai', model: 'probe', apiKeySecretId: s.secretId }),
  },
  'GET /v1/spaces/{spaceId}/ai-connections': {},
  'GET /v1/ai-connections/{aiConnectionId}': {},
  'PATCH /v1/ai-connections/{aiConnectionId}': { body: () => ({ name: 'probe-renamed' }) },
  'DELETE /v1/ai-connections/{aiConnectionId}': {},
  'POST /v1/ai-connections/{aiConnectionId}/test': {},
};

interface Seeds extends SeededSpace {
  subaccountId: string;
  /** A key of A that only exists to be the target of DELETE /v1/api-keys/{keyId}. */
  bystanderKeyId: string;
}

interface Operation {
  method: string;
  path: string;
  requestBody?: { content?: Record<string, { schema?: Schema }> };
}

interface Schema {
  $ref?: string;
  type?: string;
  enum?: unknown[];
  example?: unknown;
  minimum?: number;
  required?: string[];
  properties?: Record<string, Schema>;
}

interface OpenApiDocument {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema> };
}

const METHODS = ['get', 'head', 'post', 'put', 'patch', 'delete'];

function operationsOf(doc: OpenApiDocument): Operation[] {
  return Object.entries(doc.paths)
    .filter(([path]) => path.startsWith('/v1/'))
    .flatMap(([path, item]) =>
      Object.entries(item)
        .filter(([method]) => METHODS.includes(method))
        .map(([method, op]) => ({ ...op, method: method.toUpperCase(), path })),
    );
}

/** The smallest body the schema accepts: its required properties, each with the first value its schema allows. */
function minimalValue(doc: OpenApiDocument, schema: Schema | undefined): unknown {
  if (!schema) return {};
  if (schema.$ref) return minimalValue(doc, doc.components.schemas[schema.$ref.split('/').pop() as string]);
  if (schema.enum) return schema.enum[0];
  if (schema.example !== undefined) return schema.example;
  const scalars: Record<string, unknown> = { string: 'probe', number: schema.minimum ?? 1, boolean: false };
  scalars['integer'] = scalars['number'];
  if (schema.type === 'array') return [];
  if (schema.type && schema.type in scalars) return scalars[schema.type];
  return Object.fromEntries(
    (schema.required ?? []).map((name) => [name, minimalValue(doc, schema.properties?.[name])]),
  );
}

const PATH_PARAMS: Record<string, (s: Seeds) => string> = {
  spaceId: (s) => s.spaceId,
  runtimeId: (s) => s.runtimeId,
  runId: (s) => s.runId,
  connectionId: (s) => s.connectionId,
  artifactId: (s) => s.artifactId,
  subaccountId: (s) => s.subaccountId,
  keyId: (s) => s.bystanderKeyId,
  path: (s) => s.storagePath,
  secretId: (s) => s.secretId,
  proxyId: (s) => s.proxyId,
  aiConnectionId: (s) => s.aiConnectionId,
};

/** Fields that only ever carry a lease: any value in them is a credential. */
const LEASE_FIELDS = ['wsUrl', 'httpUrl', 'devtoolsFrontendUrl', 'webdriverUrl'];
/** A link that carries a lease token (CDP, WebDriver, live view, recording view). */
const TOKEN_LINK = /\/v1\/(cdp|webdriver|live-view|recording-view)\/[A-Za-z0-9_-]{20,}/;

/** What in a JSON answer hands out a credential: a key's secret, a lease URL, a token-bearing link. */
function credentialsIn(value: unknown, at = '$'): string[] {
  if (Array.isArray(value)) return value.flatMap((item, i) => credentialsIn(item, `${at}[${i}]`));
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value as Record<string, unknown>).flatMap(([key, item]) => {
    const path = `${at}.${key}`;
    const found: string[] = [];
    if (key === 'secret') found.push(`${path} (an API key secret)`);
    if (LEASE_FIELDS.includes(key) && typeof item === 'string' && item !== '') found.push(`${path} (a lease URL)`);
    else if (typeof item === 'string' && TOKEN_LINK.test(item)) found.push(`${path} (a token-bearing link)`);
    return [...found, ...credentialsIn(item, path)];
  });
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('tenant-and-role matrix over every /v1 operation (local mode)', () => {
  let platform: Platform;
  let doc: OpenApiDocument;
  let seeds: Seeds;
  let adminA: Api;
  let adminKeyA: string;
  const keys = {} as Record<KeyKind, Api>;
  /** Strings no probe answer may contain: every key's secret and the lease tokens A holds. */
  const credentials: string[] = [];
  /** A's ids that a key outside A (or outside A's seeded space) must never see in an answer. */
  const hiddenFrom = {} as Record<KeyKind, string[]>;
  let before: unknown;

  /** The state of A that no probe may change, read with A's admin key. */
  async function stateOfA() {
    const get = async (path: string) => {
      const answer = await adminA('GET', path);
      return { status: answer.status, body: answer.body };
    };
    const object = await fetch(new URL(`/v1/spaces/${seeds.spaceId}/storage/${seeds.storagePath}`, platform.url), {
      headers: { Authorization: `Bearer ${adminKeyA}` },
    });
    return {
      space: await get(`/v1/spaces/${seeds.spaceId}`),
      spaces: await get('/v1/spaces?limit=100'),
      subaccount: await get(`/v1/subaccounts/${seeds.subaccountId}`),
      runtime: await get(`/v1/runtimes/${seeds.runtimeId}`),
      runtimes: await get(`/v1/spaces/${seeds.spaceId}/runtimes?limit=100`),
      connection: await get(`/v1/connections/${seeds.connectionId}`),
      connections: await get(`/v1/runtimes/${seeds.runtimeId}/connections?limit=100`),
      storage: await get(`/v1/spaces/${seeds.spaceId}/storage?limit=100`),
      objectBytes: { status: object.status, sha256: sha256(Buffer.from(await object.arrayBuffer())) },
      artifacts: await get(`/v1/runs/${seeds.runId}/artifacts?limit=100`),
      secrets: await get(`/v1/spaces/${seeds.spaceId}/secrets?limit=100`),
      proxies: await get(`/v1/spaces/${seeds.spaceId}/proxies?limit=100`),
      aiConnections: await get(`/v1/spaces/${seeds.spaceId}/ai-connections?limit=100`),
      // lastUsedAt moves whenever a probe key is used; whether a key exists, and as what, must not.
      apiKeys: ((await get('/v1/api-keys?limit=100')).body as { data: Array<Record<string, unknown>> }).data.map(
        ({ lastUsedAt: _lastUsedAt, ...key }) => key,
      ),
    };
  }
  beforeAll(async () => {
    platform = await startLocalPlatform();
    const root = apiClient(platform.url, platform.adminKey);
    doc = (await (await fetch(new URL('/openapi.json', platform.url))).json()) as OpenApiDocument;

    const subA = await expectStatus<{ id: string }>(root('POST', '/v1/subaccounts', { name: 'tenant-a' }), 201, 'A');
    const subB = await expectStatus<{ id: string }>(root('POST', '/v1/subaccounts', { name: 'tenant-b' }), 201, 'B');
    const a = await createKey(root, { name: 'a-admin', role: 'admin', subaccountId: subA.id });
    adminKeyA = a.secret;
    adminA = apiClient(platform.url, a.secret);
    const seeded = await seedSpace(adminA, 'a-seeded');
    const otherSpace = await expectStatus<{ id: string }>(
      adminA('POST', '/v1/spaces', { name: 'a-other' }),
      201,
      'second space of A',
    );
    const bystander = await createKey(adminA, { name: 'a-bystander', role: 'viewer' });
    seeds = { ...seeded, subaccountId: subA.id, bystanderKeyId: bystander.id };

    const foreign = await createKey(root, { name: 'b-admin', role: 'admin', subaccountId: subB.id });
    // Admin, so that whatever it gets past is the space limit's fault, not its role's.
    const limited = await createKey(adminA, { name: 'a-other-space', role: 'admin', spaceIds: [otherSpace.id] });
    const viewer = await createKey(adminA, { name: 'a-viewer', role: 'viewer', spaceIds: [seeds.spaceId] });
    keys['foreign-subaccount-admin'] = apiClient(platform.url, foreign.secret);
    keys['other-space-admin'] = apiClient(platform.url, limited.secret);
    keys['same-space-viewer'] = apiClient(platform.url, viewer.secret);

    // The lease tokens A holds: the seeded connection's (from its create answer) and a live-view link's.
    const connection = await expectStatus<{ wsUrl: string }>(
      adminA('POST', `/v1/runtimes/${seeds.runtimeId}/connections`, { type: 'cdp' }),
      201,
      'connection for its token',
    );
    const liveView = await expectStatus<{ url: string }>(
      adminA('POST', `/v1/runs/${seeds.runId}/live-view`, {}),
      201,
      'live view for its token',
    );
    const tokenOf = (url: string) => new URL(url).pathname.split('/').pop() as string;
    credentials.push(
      platform.adminKey,
      a.secret,
      bystander.secret,
      foreign.secret,
      limited.secret,
      viewer.secret,
      tokenOf(connection.wsUrl),
      tokenOf(liveView.url),
    );
    const spaceIds = [
      seeds.spaceId,
      seeds.runtimeId,
      seeds.runId,
      seeds.connectionId,
      seeds.artifactId,
      seeds.secretId,
      seeds.proxyId,
      seeds.aiConnectionId,
    ];
    const keyIds = [a.id, bystander.id, viewer.id, limited.id];
    hiddenFrom['foreign-subaccount-admin'] = [...spaceIds, ...keyIds, subA.id, otherSpace.id];
    // A key of A's other space may know its subaccount and its own space, nothing of the seeded space.
    hiddenFrom['other-space-admin'] = [...spaceIds, ...keyIds.filter((id) => id !== limited.id)];
    hiddenFrom['same-space-viewer'] = [];
    before = await stateOfA();
  }, 180_000);

  afterAll(async () => {
    await platform?.stop();
  }, 60_000);

  it('has a probe rule for every /v1 operation of the document, and no rule for a route it lacks', () => {
    const served = operationsOf(doc).map((op) => `${op.method} ${op.path}`);
    expect(served.length).toBeGreaterThan(30);
    expect(served.filter((name) => !RULES[name])).toEqual([]);
    expect(Object.keys(RULES).filter((name) => !served.includes(name))).toEqual([]);
    const params = operationsOf(doc).flatMap((op) => [...op.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1] as string));
    expect(params.filter((name) => !PATH_PARAMS[name])).toEqual([]);
  });

  it('gives keys outside A 404 or 403, a viewer reads without credentials and no writes, and never a 5xx', async () => {
    const failures: string[] = [];
    for (const op of operationsOf(doc)) {
      const name = `${op.method} ${op.path}`;
      const rule = RULES[name];
      if (!rule) continue; // the first test names it
      const path = op.path.replace(/\{(\w+)\}/g, (_, param: string) => {
        const value = PATH_PARAMS[param]?.(seeds) ?? `missing-${param}`;
        return param === 'path' ? value : encodeURIComponent(value);
      });
      const url = rule.query ? `${path}?${new URLSearchParams(rule.query).toString()}` : path;
      const content = op.requestBody?.content ?? {};
      const body = content['application/json']
        ? (rule.body?.(seeds) ?? minimalValue(doc, content['application/json'].schema))
        : Object.keys(content).length > 0
          ? Buffer.from('probe bytes')
          : undefined;
      const read = op.method === 'GET' || op.method === 'HEAD';

      // The control: A's own admin reads it, so a refusal below is about the key, not a wrong probe.
      if (read) {
        const control = await adminA(op.method, url, undefined, { Accept: 'application/json' });
        const reasons = credentialsIn(control.body).map((found) => `hands out ${found}`);
        if (control.status < 200 || control.status > 299) reasons.unshift('the probe itself fails');
        if (reasons.length > 0) {
          failures.push(
            `${name} [A's admin, control] → ${control.status} ${control.text.slice(0, 300)}: ${reasons.join('; ')}`,
          );
        }
      }

      for (const kind of Object.keys(keys) as KeyKind[]) {
        const answer = await keys[kind](op.method, url, body, { Accept: 'application/json' });
        const reasons: string[] = [];
        if (answer.status >= 500) reasons.push('a server error');

        let expected: number[];
        if (kind === 'same-space-viewer') {
          expected = rule.adminOnly || !read ? [403] : [200];
        } else if (rule.adminOnly && kind === 'other-space-admin') {
          // A key limited to spaces cannot use these routes at all, whatever the id: a 403 leaks nothing.
          expected = [403];
        } else if (rule.scope === 'account') {
          // Lists answer with the key's own tenancy; creates aimed at A (by the body) are refused.
          expected = read ? [200] : [403, 404];
        } else {
          expected = !read && rule.collection ? [403, 404] : [404];
        }
        if (!expected.includes(answer.status)) reasons.push(`expected ${expected.join(' or ')}`);

        if (answer.status >= 200 && answer.status < 300) {
          reasons.push(...credentialsIn(answer.body).map((found) => `hands out ${found}`));
          reasons.push(...hiddenFrom[kind].filter((id) => answer.text.includes(id)).map((id) => `shows ${id} of A`));
        }
        if (
          credentials.some((secret) => answer.text.includes(secret) || answer.headers.get('location')?.includes(secret))
        ) {
          reasons.push('carries a key secret or a lease token');
        }
        if (reasons.length > 0) {
          failures.push(`${name} [${kind}] → ${answer.status} ${answer.text.slice(0, 300)}: ${reasons.join('; ')}`);
        }
      }
    }
    expect(failures).toEqual([]);
  }, 120_000);

  it('leaves everything of A as it was: runtime ready, connection active, bytes, names and keys unchanged', async () => {
    const after = await stateOfA();
    expect(after.runtime.body).toMatchObject({ status: 'ready' });
    expect(after.connection.body).toMatchObject({ status: 'active' });
    expect(after.objectBytes).toEqual({ status: 200, sha256: sha256(seeds.storageBytes) });
    expect(after.space.body).toMatchObject({ name: 'a-seeded' });
    expect(after).toEqual(before);
  });
});
