import { join } from 'node:path';
import { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  ProxiesV1,
  type RequestInitOf,
  type ResponseOf,
  type RpcMethod,
  RuntimesV1,
  SecretsV1,
  SpacesV1,
  StorageV1,
} from '@bctrl/contracts';
import { BctrlError, type ErrorDetail, hashApiKey, type KeyPrincipal, type Principal, type Role } from '@bctrl/core';
import { migrateService } from '@bctrl/db';
import { PlatformModule } from '@bctrl/service';
import { createTestDatabase } from '@bctrl/testing';
import { InProcessTransport } from '@bctrl/transport';
import { newVaultKey, parseVaultKeys } from '@bctrl/vault';
import { SpacesModule } from '../spaces.module';

jest.setTimeout(60_000);

const OPERATOR: Principal = { kind: 'operator' };

/** The rejection as a BctrlError, or a failure when the call succeeded. */
async function refusal(promise: Promise<unknown>): Promise<BctrlError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(BctrlError);
    return error as BctrlError;
  }
  throw new Error('expected the call to fail, it succeeded');
}

const fieldsOf = (error: BctrlError) => (error.details ?? []).map((detail: ErrorDetail) => detail.field);

describe('proxies in the spaces service, against Postgres', () => {
  let app: INestApplicationContext;
  const transport = new InProcessTransport();
  /** What runtime-orchestrator answers for liveUsing: runtime ids by proxy id. */
  const liveRuntimes = new Map<string, string[]>();
  let admin: KeyPrincipal;
  let spaceId: string;
  let otherSpaceId: string;

  const call = <M extends RpcMethod>(method: M, request: RequestInitOf<M>, principal: Principal = admin) =>
    transport.request(method as RpcMethod, request as never, { principal }) as Promise<ResponseOf<M>>;

  async function authenticate(secret: string): Promise<KeyPrincipal> {
    const { principal } = await call(SpacesV1.authenticate, { keyHash: hashApiKey(secret) }, OPERATOR);
    if (!principal) throw new Error('no principal');
    return {
      kind: 'key',
      accountId: principal.accountId,
      subaccountId: principal.subaccountId || null,
      spaceIds: principal.spaceIds.length > 0 ? [...principal.spaceIds] : null,
      role: principal.role as Role,
      keyId: principal.keyId,
    };
  }

  async function newKey(role: Role, owner = admin) {
    const created = await call(SpacesV1.createApiKey, { name: `key-${role}`, role }, owner);
    return authenticate(created.secret);
  }

  const newSecret = async (space: string, name: string, value = `pw-${name}`) =>
    (await call(SecretsV1.createSecret, { spaceId: space, name, value, description: '' })).id;

  beforeAll(async () => {
    const url = await createTestDatabase(process.env.BCTRL_TEST_DATABASE_URL as string, 'proxies_spec');
    await migrateService(url, 'spaces', { workspaceRoot: join(__dirname, '../../../..') });
    // runtime-orchestrator's side of the contracts the spaces service calls, answered here.
    transport.serve(RuntimesV1.liveUsing, (request) => ({ runtimeIds: liveRuntimes.get(request.proxyId) ?? [] }));
    transport.serve(RuntimesV1.countLive, () => ({ count: 0 }));
    transport.serve(StorageV1.purgeSpace, () => ({ objects: 0n, artifacts: 0n, keys: 0n }));
    const moduleRef = await Test.createTestingModule({
      imports: [
        PlatformModule.forRoot({ services: ['spaces'], transport }),
        SpacesModule.forRoot({
          databaseUrl: url,
          vault: parseVaultKeys(newVaultKey('test')),
          root: { generateKey: false },
        }),
      ],
    }).compile();
    app = await moduleRef.init();
    const account = await call(SpacesV1.createAccount, { name: 'proxies' }, OPERATOR);
    admin = await authenticate(account.adminKeySecret);
    spaceId = (await call(SpacesV1.createSpace, { name: 'proxies-a' })).id;
    otherSpaceId = (await call(SpacesV1.createSpace, { name: 'proxies-b' })).id;
  });

  afterAll(async () => {
    await app?.close();
  });

  it('creates, lists, reads, updates and deletes a proxy, storing the server as scheme://host:port', async () => {
    const secretId = await newSecret(spaceId, 'crud-password');
    const created = await call(ProxiesV1.createProxy, {
      spaceId,
      name: 'office',
      server: 'HTTP://Proxy.Example.com:3128/',
      username: 'alice',
      passwordSecretId: secretId,
      bypass: ['*.internal', '10.0.0.0/8', '<local>'],
    });
    expect(created).toMatchObject({
      id: expect.stringMatching(/^prx_/),
      spaceId,
      name: 'office',
      server: 'http://proxy.example.com:3128',
      username: 'alice',
      passwordSecretId: secretId,
      bypass: ['*.internal', '10.0.0.0/8', '<local>'],
    });
    expect(await call(ProxiesV1.getProxy, { proxyId: created.id })).toEqual(created);
    const listed = await call(ProxiesV1.listProxies, { spaceId });
    expect(listed.data.map((p) => p.id)).toContain(created.id);

    const updated = await call(ProxiesV1.updateProxy, {
      proxyId: created.id,
      name: 'office-2',
      bypass: { entries: [] },
    });
    expect(updated).toMatchObject({ name: 'office-2', bypass: [], username: 'alice', server: created.server });
    const anonymous = await call(ProxiesV1.updateProxy, {
      proxyId: created.id,
      server: 'socks5://10.1.2.3:1080',
      username: '',
      passwordSecretId: '',
    });
    expect(anonymous).toMatchObject({ server: 'socks5://10.1.2.3:1080', username: '', passwordSecretId: '' });

    expect(await call(ProxiesV1.deleteProxy, { proxyId: created.id })).toMatchObject({ id: created.id, deleted: true });
    expect((await refusal(call(ProxiesV1.getProxy, { proxyId: created.id }))).code).toBe('not_found');
  });

  it('refuses a bad proxy with 400 listing every bad field at once', async () => {
    const error = await refusal(
      call(ProxiesV1.createProxy, {
        spaceId,
        name: '',
        server: 'ftp://files.example.com:21',
        username: 'a:b',
        passwordSecretId: 'sec_doesnotexist0000000000',
        bypass: ['ok.example.com', 'two; rules', ''],
      }),
    );
    expect(error.code).toBe('validation_failed');
    expect(fieldsOf(error).sort()).toEqual(['bypass', 'bypass', 'name', 'passwordSecretId', 'server', 'username']);
    expect(error.details).toEqual(
      expect.arrayContaining([
        { field: 'server', issue: 'scheme must be http, https or socks5, not ftp' },
        { field: 'bypass', issue: 'entry 2 is not a host pattern like *.internal, 10.0.0.0/8 or <local>' },
      ]),
    );
  });

  it.each([
    ['no port', 'http://proxy.example.com'],
    ['credentials in the URL', 'http://user:pw@proxy.example.com:3128'],
    ['a path', 'http://proxy.example.com:3128/path'],
    ['a query', 'http://proxy.example.com:3128?x=1'],
    ['a fragment', 'http://proxy.example.com:3128#x'],
    ['port 0', 'http://proxy.example.com:0'],
    ['port 70000', 'http://proxy.example.com:70000'],
    ['no host', 'http://:3128'],
    ['a bad host', 'http://-bad-.example.com:3128'],
    ['not a URL', 'proxy.example.com:3128'],
    ['socks4', 'socks4://proxy.example.com:1080'],
  ])('refuses a server with %s: 400 naming server', async (_what, server) => {
    const error = await refusal(call(ProxiesV1.createProxy, { spaceId, name: 'bad-server', server }));
    expect(error.code).toBe('validation_failed');
    expect(fieldsOf(error)).toEqual(['server']);
  });

  it('accepts IPv4, IPv6 and https servers', async () => {
    for (const [name, server] of [
      ['v4', 'http://192.0.2.10:8080'],
      ['v6', 'https://[2001:db8::1]:443'],
      ['tls', 'https://secure-proxy.example.com:8443'],
    ]) {
      expect((await call(ProxiesV1.createProxy, { spaceId, name: `ok-${name}`, server })).server).toBe(server);
    }
  });

  it('wants a username and a password secret together, the secret from the same space', async () => {
    const mine = await newSecret(spaceId, 'pair-password');
    const elsewhere = await newSecret(otherSpaceId, 'other-space-password');
    const server = 'http://proxy.example.com:3128';
    const noPassword = await refusal(call(ProxiesV1.createProxy, { spaceId, name: 'p1', server, username: 'bob' }));
    expect(noPassword.details).toEqual([{ field: 'passwordSecretId', issue: 'is required with a username' }]);
    const noUser = await refusal(call(ProxiesV1.createProxy, { spaceId, name: 'p2', server, passwordSecretId: mine }));
    expect(noUser.details).toEqual([{ field: 'username', issue: 'is required with a passwordSecretId' }]);
    const foreign = await refusal(
      call(ProxiesV1.createProxy, { spaceId, name: 'p3', server, username: 'bob', passwordSecretId: elsewhere }),
    );
    expect(foreign.details).toEqual([{ field: 'passwordSecretId', issue: 'is not a secret of this space' }]);
    const garbage = await refusal(
      call(ProxiesV1.createProxy, { spaceId, name: 'p4', server, username: 'bob', passwordSecretId: 'nope' }),
    );
    expect(fieldsOf(garbage)).toEqual(['passwordSecretId']);
  });

  it('refuses socks5 with credentials, saying Chromium cannot authenticate to SOCKS5 proxies', async () => {
    const secretId = await newSecret(spaceId, 'socks-password');
    const error = await refusal(
      call(ProxiesV1.createProxy, {
        spaceId,
        name: 'socks-auth',
        server: 'socks5://proxy.example.com:1080',
        username: 'carol',
        passwordSecretId: secretId,
      }),
    );
    expect(error.code).toBe('validation_failed');
    expect(error.details).toEqual([
      { field: 'server', issue: expect.stringContaining('Chromium cannot authenticate to SOCKS5 proxies') },
    ]);
    // Nor can an update get there: the result is checked whole.
    const http = await call(ProxiesV1.createProxy, {
      spaceId,
      name: 'turns-socks',
      server: 'http://proxy.example.com:3128',
      username: 'carol',
      passwordSecretId: secretId,
    });
    const turned = await refusal(
      call(ProxiesV1.updateProxy, { proxyId: http.id, server: 'socks5://proxy.example.com:1080' }),
    );
    expect(fieldsOf(turned)).toEqual(['server']);
    expect((await call(ProxiesV1.getProxy, { proxyId: http.id })).server).toBe('http://proxy.example.com:3128');
  });

  it('keeps names unique per space: 409 on a taken name, the same name free in another space', async () => {
    const server = 'http://proxy.example.com:3128';
    await call(ProxiesV1.createProxy, { spaceId, name: 'taken', server });
    const clash = await refusal(call(ProxiesV1.createProxy, { spaceId, name: 'taken', server }));
    expect(clash.code).toBe('conflict');
    expect(clash.details).toEqual([{ field: 'name', issue: 'is taken in this space' }]);
    await call(ProxiesV1.createProxy, { spaceId: otherSpaceId, name: 'taken', server });
    const other = await call(ProxiesV1.createProxy, { spaceId, name: 'renamed-later', server });
    expect((await refusal(call(ProxiesV1.updateProxy, { proxyId: other.id, name: 'taken' }))).code).toBe('conflict');
  });

  it('keeps proxies to their tenants: 404 for another account, 403 for a viewer writing, 200 for a viewer reading', async () => {
    const proxy = await call(ProxiesV1.createProxy, { spaceId, name: 'tenancy', server: 'http://p.example.com:1' });
    const stranger = await authenticate(
      (await call(SpacesV1.createAccount, { name: 'stranger' }, OPERATOR)).adminKeySecret,
    );
    expect((await refusal(call(ProxiesV1.getProxy, { proxyId: proxy.id }, stranger))).code).toBe('not_found');
    expect((await refusal(call(ProxiesV1.deleteProxy, { proxyId: proxy.id }, stranger))).code).toBe('not_found');
    expect((await refusal(call(ProxiesV1.listProxies, { spaceId }, stranger))).code).toBe('not_found');
    const viewer = await newKey('viewer');
    expect((await call(ProxiesV1.getProxy, { proxyId: proxy.id }, viewer)).id).toBe(proxy.id);
    const create = call(ProxiesV1.createProxy, { spaceId, name: 'v', server: 'http://p.example.com:1' }, viewer);
    expect((await refusal(create)).code).toBe('forbidden');
    expect((await refusal(call(ProxiesV1.updateProxy, { proxyId: proxy.id, name: 'x' }, viewer))).code).toBe(
      'forbidden',
    );
    expect((await refusal(call(ProxiesV1.deleteProxy, { proxyId: proxy.id }, viewer))).code).toBe('forbidden');
  });

  it('refuses to delete a proxy that live runtimes use: 409 listing them, the proxy kept', async () => {
    const proxy = await call(ProxiesV1.createProxy, { spaceId, name: 'in-use', server: 'http://p.example.com:1' });
    liveRuntimes.set(proxy.id, ['rt_aaaaaaaaaaaaaaaaaaaaaaaa', 'rt_bbbbbbbbbbbbbbbbbbbbbbbb']);
    const error = await refusal(call(ProxiesV1.deleteProxy, { proxyId: proxy.id }));
    expect(error.code).toBe('conflict');
    expect(error.details).toEqual([
      { field: 'users', issue: 'runtime rt_aaaaaaaaaaaaaaaaaaaaaaaa' },
      { field: 'users', issue: 'runtime rt_bbbbbbbbbbbbbbbbbbbbbbbb' },
    ]);
    expect((await call(ProxiesV1.getProxy, { proxyId: proxy.id })).id).toBe(proxy.id);
    liveRuntimes.delete(proxy.id);
    expect((await call(ProxiesV1.deleteProxy, { proxyId: proxy.id })).deleted).toBe(true);
  });

  it('refuses to delete the secret a proxy uses: 409 naming the proxy', async () => {
    const secretId = await newSecret(spaceId, 'used-by-proxy');
    const proxy = await call(ProxiesV1.createProxy, {
      spaceId,
      name: 'holds-secret',
      server: 'http://p.example.com:1',
      username: 'dave',
      passwordSecretId: secretId,
    });
    const error = await refusal(call(SecretsV1.deleteSecret, { secretId }));
    expect(error.code).toBe('conflict');
    expect(error.details).toEqual([{ field: 'users', issue: `proxy ${proxy.id}` }]);
  });

  it('resolves a proxy with its password for a member of its space only', async () => {
    const secretId = await newSecret(spaceId, 'resolve-password', 'resolve-canary-value');
    const proxy = await call(ProxiesV1.createProxy, {
      spaceId,
      name: 'resolvable',
      server: 'http://p.example.com:3128',
      username: 'erin',
      passwordSecretId: secretId,
      bypass: ['*.internal'],
    });
    expect(await call(ProxiesV1.resolveProxy, { proxyId: proxy.id, spaceId })).toMatchObject({
      server: 'http://p.example.com:3128',
      bypass: ['*.internal'],
      username: 'erin',
      password: 'resolve-canary-value',
    });
    expect((await call(SecretsV1.getSecret, { secretId })).lastUsedAt).not.toBe('');
    const elsewhere = call(ProxiesV1.resolveProxy, { proxyId: proxy.id, spaceId: otherSpaceId });
    expect((await refusal(elsewhere)).code).toBe('not_found');
    const viewer = await newKey('viewer');
    expect((await refusal(call(ProxiesV1.resolveProxy, { proxyId: proxy.id, spaceId }, viewer))).code).toBe(
      'forbidden',
    );
    const anonymous = await call(ProxiesV1.createProxy, { spaceId, name: 'no-auth', server: 'socks5://s.example:1' });
    expect(await call(ProxiesV1.resolveProxy, { proxyId: anonymous.id, spaceId })).toMatchObject({
      server: 'socks5://s.example:1',
      bypass: [],
      username: '',
      password: '',
    });
  });
});
