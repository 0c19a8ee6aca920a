import { join } from 'node:path';
import { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Client } from 'pg';
import { RequestInitOf, ResponseOf, RpcMethod, RuntimesV1, SecretsV1, SpacesV1, StorageV1 } from '@bctrl/contracts';
import { BctrlError, ErrorCode, generateApiKey, hashApiKey, KeyPrincipal, newId, Principal, Role } from '@bctrl/core';
import { migrateService } from '@bctrl/db';
import { PlatformModule } from '@bctrl/service';
import { createTestDatabase, withPgClient } from '@bctrl/testing';
import { InProcessTransport } from '@bctrl/transport';
import { type Keyring, newVaultKey, parseVaultKeys } from '@bctrl/vault';
import { RootBootstrap, SpacesModule, SpacesModuleOptions } from './index';

jest.setTimeout(60_000);

const adminUrl = process.env.BCTRL_TEST_DATABASE_URL;
if (!adminUrl)
  throw new Error('BCTRL_TEST_DATABASE_URL is unset: run through jest, whose global setup starts Postgres');
const workspaceRoot = join(__dirname, '../../..');
const OPERATOR: Principal = { kind: 'operator' };

const withClient = withPgClient;

/** A database of its own, migrated as the service migrates at deploy time, so tests never see another file's rows. */
async function freshDatabase(): Promise<string> {
  const url = await createTestDatabase(adminUrl as string, 'spaces_spec');
  await migrateService(url, 'spaces', { workspaceRoot });
  return url;
}

interface Harness {
  app: INestApplicationContext;
  transport: InProcessTransport;
  call<Req extends RpcMethod>(method: Req, request: RequestInitOf<Req>, principal: Principal): Promise<ResponseOf<Req>>;
}

/** Spaces whose files storage was asked to purge, in order. */
const purgedSpaces: string[] = [];

/** The spaces service as local mode composes it (libs/local/src/local.ts), reached only through the transport. */
async function startSpaces(options: Omit<SpacesModuleOptions, 'vault'> & { vault?: Keyring }): Promise<Harness> {
  const transport = new InProcessTransport();
  // Deleting a space asks runtime-orchestrator about live runtimes. These tests are about the spaces service
  // alone, so the orchestrator's side of that contract answers "none live" here.
  transport.serve(RuntimesV1.countLive, () => ({ count: 0 }));
  // Storage's side of deleting a space: the purge of its files, noted so a test can see it was asked for.
  transport.serve(StorageV1.purgeSpace, (request) => {
    purgedSpaces.push(request.spaceId);
    return { objects: 0n, artifacts: 0n, keys: 0n };
  });
  const moduleRef = await Test.createTestingModule({
    imports: [
      PlatformModule.forRoot({ services: ['spaces'], transport }),
      SpacesModule.forRoot({ vault: parseVaultKeys(newVaultKey('test')), ...options }),
    ],
  }).compile();
  // An application context, not an HTTP app: the service has no routes of its own that these tests need.
  const app = await moduleRef.init();
  return {
    app,
    transport,
    call: (method, request, principal) =>
      transport.request(method as RpcMethod, request as never, { principal }) as Promise<ResponseOf<typeof method>>,
  };
}

/** The rejection's BctrlError code, or a failure when the call succeeded or threw something else. */
async function errorCode(promise: Promise<unknown>): Promise<ErrorCode> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(BctrlError);
    return (error as BctrlError).code;
  }
  throw new Error('expected the call to fail, it succeeded');
}

describe('spaces service against Postgres', () => {
  let url: string;
  let spaces: Harness;
  const extraApps: INestApplicationContext[] = [];
  const db = <T>(work: (client: Client) => Promise<T>) => withClient(url, work);

  /** Resolves a secret the way the gateway does: by its hash, through SpacesV1.authenticate. */
  async function authenticate(secret: string): Promise<KeyPrincipal> {
    const { principal } = await spaces.call(SpacesV1.authenticate, { keyHash: hashApiKey(secret) }, OPERATOR);
    if (!principal) throw new Error('authenticate answered without a principal');
    return {
      kind: 'key',
      accountId: principal.accountId,
      subaccountId: principal.subaccountId || null,
      spaceIds: principal.spaceIds.length > 0 ? principal.spaceIds : null,
      role: principal.role as Role,
      keyId: principal.keyId,
    };
  }

  /** A new tenant account (operator call) and its admin principal, so tests do not share rows. */
  async function newAccount(name = 'tenant') {
    const created = await spaces.call(SpacesV1.createAccount, { name }, OPERATOR);
    return { accountId: created.accountId, admin: await authenticate(created.adminKeySecret) };
  }

  async function newKey(
    admin: KeyPrincipal,
    request: { role: Role; spaceIds?: string[]; subaccountId?: string; expiresAt?: string },
  ) {
    const created = await spaces.call(SpacesV1.createApiKey, { name: `key-${request.role}`, ...request }, admin);
    return { secret: created.secret, id: created.key?.id as string, principal: await authenticate(created.secret) };
  }

  beforeAll(async () => {
    url = await freshDatabase();
    spaces = await startSpaces({ databaseUrl: url, root: { generateKey: false } });
  });

  afterAll(async () => {
    await Promise.all(extraApps.map((app) => app.close()));
    await spaces?.app.close();
  });

  describe('root account', () => {
    it('is created once, with one key, when ensureRootAccount runs twice concurrently', async () => {
      const results = await Promise.all([
        spaces.call(SpacesV1.ensureRootAccount, { bootstrapKey: '' }, OPERATOR),
        spaces.call(SpacesV1.ensureRootAccount, { bootstrapKey: '' }, OPERATOR),
      ]);
      expect(results.filter((result) => result.created)).toHaveLength(1);
      expect(results[0]?.accountId).toBe(results[1]?.accountId);
      const counts = await db(async (client) => ({
        roots: (await client.query('SELECT count(*)::int AS n FROM spaces.accounts WHERE is_root')).rows[0].n as number,
        keys: (await client.query('SELECT count(*)::int AS n FROM spaces.api_keys')).rows[0].n as number,
      }));
      expect(counts).toEqual({ roots: 1, keys: 1 });

      // The generated secret is returned once, to the call that created the account, and it is an admin key.
      const creator = results.find((result) => result.created);
      expect(creator?.createdKeySecret).toMatch(/^bctrl_[0-9A-Za-z]{40}$/);
      expect(results.find((result) => !result.created)?.createdKeySecret).toBe('');
      const principal = await authenticate(creator?.createdKeySecret as string);
      expect(principal).toMatchObject({
        accountId: creator?.accountId,
        role: 'admin',
        subaccountId: null,
        spaceIds: null,
      });
    });

    it('makes a configured bootstrap key authenticate as an admin of the root account at boot', async () => {
      // Its own database: the bootstrap key must create the root account, not join an existing one.
      const bootstrapKey = generateApiKey();
      const other = await startSpaces({
        databaseUrl: await freshDatabase(),
        root: { bootstrapApiKey: bootstrapKey, generateKey: false },
      });
      extraApps.push(other.app);
      const { principal } = await other.call(SpacesV1.authenticate, { keyHash: hashApiKey(bootstrapKey) }, OPERATOR);
      const root = await other.call(SpacesV1.ensureRootAccount, { bootstrapKey }, OPERATOR);
      expect(root.created).toBe(false);
      expect(principal).toMatchObject({ accountId: root.accountId, role: 'admin', subaccountId: '', spaceIds: [] });
      // A restart with the same key adds nothing.
      const again = await other.call(SpacesV1.ensureRootAccount, { bootstrapKey }, OPERATOR);
      expect(again).toMatchObject({ accountId: root.accountId, created: false, createdKeySecret: '' });
    });

    it('creates the root account with a generated admin key at boot when told to, and reports the key once', async () => {
      // Local mode's first start: no bootstrap key configured, so one is generated and shown once.
      const databaseUrl = await freshDatabase();
      const first = await startSpaces({ databaseUrl, root: { generateKey: true } });
      extraApps.push(first.app);
      const createdKey = first.app.get(RootBootstrap).createdKey;
      expect(createdKey).toEqual(expect.any(String));
      const { principal } = await first.call(
        SpacesV1.authenticate,
        { keyHash: hashApiKey(createdKey ?? '') },
        OPERATOR,
      );
      expect(principal).toMatchObject({ role: 'admin', subaccountId: '' });
      // The next start finds the account: nothing new to show.
      const second = await startSpaces({ databaseUrl, root: { generateKey: true } });
      extraApps.push(second.app);
      expect(second.app.get(RootBootstrap).createdKey).toBeNull();
    });

    it('adds a bootstrap key to an existing root account on a later start', async () => {
      // Without a key first, so the root account exists whatever ran before this test.
      await spaces.call(SpacesV1.ensureRootAccount, { bootstrapKey: '' }, OPERATOR);
      const bootstrapKey = generateApiKey();
      const root = await spaces.call(SpacesV1.ensureRootAccount, { bootstrapKey }, OPERATOR);
      expect(root.created).toBe(false);
      expect(await authenticate(bootstrapKey)).toMatchObject({ accountId: root.accountId, role: 'admin' });
    });
  });

  describe('authentication', () => {
    it('fails for a revoked key with unauthenticated', async () => {
      const { admin } = await newAccount();
      const key = await newKey(admin, { role: 'member' });
      expect(key.principal.role).toBe('member');
      await spaces.call(SpacesV1.revokeApiKey, { keyId: key.id }, admin);
      expect(await errorCode(authenticate(key.secret))).toBe('unauthenticated');
    });

    it('fails for an expired key with unauthenticated', async () => {
      const { admin } = await newAccount();
      const key = await newKey(admin, { role: 'viewer', expiresAt: new Date(Date.now() + 3_600_000).toISOString() });
      expect(key.principal.keyId).toBe(key.id);
      // The API refuses a past expiry at creation, so the clock is moved for this key in the database.
      await db((client) =>
        client.query(`UPDATE spaces.api_keys SET expires_at = now() - interval '1 second' WHERE id = $1`, [key.id]),
      );
      expect(await errorCode(authenticate(key.secret))).toBe('unauthenticated');
    });

    it('fails for an unknown key and a malformed hash', async () => {
      expect(await errorCode(authenticate(generateApiKey()))).toBe('unauthenticated');
      expect(await errorCode(spaces.call(SpacesV1.authenticate, { keyHash: 'not-a-hash' }, OPERATOR))).toBe(
        'unauthenticated',
      );
    });
  });

  describe('pagination', () => {
    it('returns every row exactly once with limit 1 when rows share the same createdAt', async () => {
      const { accountId, admin } = await newAccount();
      const sameMillisecond = new Date('2030-06-01T12:00:00.123Z');
      const ids = Array.from({ length: 7 }, () => newId('space'));
      // One newer and one older row around the tie, so the cursor must cross time as well as ids.
      const newer = newId('space');
      const older = newId('space');
      const rows: Array<[string, Date]> = [
        ...ids.map((id): [string, Date] => [id, sameMillisecond]),
        [newer, new Date('2030-06-01T12:00:00.124Z')],
        [older, new Date('2030-06-01T12:00:00.122Z')],
      ];
      await db(async (client) => {
        for (const [id, createdAt] of rows) {
          await client.query(
            `INSERT INTO spaces.spaces (id, account_id, name, metadata, created_at, updated_at) VALUES ($1, $2, $3, '{}', $4, $4)`,
            [id, accountId, `tied-${id}`, createdAt],
          );
        }
      });

      const seen: string[] = [];
      let cursor = '';
      for (let pages = 0; pages < 20; pages++) {
        const page = await spaces.call(SpacesV1.listSpaces, { page: { limit: 1, cursor } }, admin);
        expect(page.data.length).toBeLessThanOrEqual(1);
        seen.push(...page.data.map((space) => space.id));
        if (!page.nextCursor) break;
        cursor = page.nextCursor;
      }
      expect(seen).toHaveLength(9);
      expect(new Set(seen).size).toBe(9);
      // Newest first, ties broken by id descending.
      expect(seen).toEqual([newer, ...[...ids].sort().reverse(), older]);
    });
  });

  describe('space-limited keys', () => {
    it('cannot get, update or delete a space outside their list in the same account', async () => {
      const { admin } = await newAccount();
      const allowed = await spaces.call(SpacesV1.createSpace, { name: 'allowed' }, admin);
      const outside = await spaces.call(SpacesV1.createSpace, { name: 'outside' }, admin);
      const limited = (await newKey(admin, { role: 'admin', spaceIds: [allowed.id] })).principal;
      expect(limited.spaceIds).toEqual([allowed.id]);

      expect(await errorCode(spaces.call(SpacesV1.getSpace, { spaceId: outside.id }, limited))).toBe('not_found');
      expect(
        await errorCode(spaces.call(SpacesV1.updateSpace, { spaceId: outside.id, name: 'hijacked' }, limited)),
      ).toBe('not_found');
      expect(await errorCode(spaces.call(SpacesV1.deleteSpace, { spaceId: outside.id }, limited))).toBe('not_found');

      const untouched = await spaces.call(SpacesV1.getSpace, { spaceId: outside.id }, admin);
      expect(untouched.name).toBe('outside');
      // The key still works on its own space, so the refusals above are about scope, not a broken key.
      expect((await spaces.call(SpacesV1.getSpace, { spaceId: allowed.id }, limited)).id).toBe(allowed.id);
      expect((await spaces.call(SpacesV1.updateSpace, { spaceId: allowed.id, name: 'renamed' }, limited)).name).toBe(
        'renamed',
      );
      expect((await spaces.call(SpacesV1.listSpaces, {}, limited)).data.map((space) => space.id)).toEqual([allowed.id]);
    });
  });

  describe('principals', () => {
    it('refuses the operator principal on tenant calls with forbidden', async () => {
      const { admin } = await newAccount();
      const space = await spaces.call(SpacesV1.createSpace, { name: 'tenant-space' }, admin);
      const refused = [
        spaces.call(SpacesV1.createSpace, { name: 'x' }, OPERATOR),
        spaces.call(SpacesV1.listSpaces, {}, OPERATOR),
        spaces.call(SpacesV1.getSpace, { spaceId: space.id }, OPERATOR),
        spaces.call(SpacesV1.updateSpace, { spaceId: space.id, name: 'x' }, OPERATOR),
        spaces.call(SpacesV1.deleteSpace, { spaceId: space.id }, OPERATOR),
        spaces.call(SpacesV1.createSubaccount, { name: 'x' }, OPERATOR),
        spaces.call(SpacesV1.listSubaccounts, {}, OPERATOR),
        spaces.call(SpacesV1.createApiKey, { name: 'x', role: 'admin' }, OPERATOR),
        spaces.call(SpacesV1.listApiKeys, {}, OPERATOR),
      ];
      for (const call of refused) expect(await errorCode(call)).toBe('forbidden');
      expect((await spaces.call(SpacesV1.getSpace, { spaceId: space.id }, admin)).name).toBe('tenant-space');
    });

    it('refuses a tenant key, even an admin one, on createAccount and ensureRootAccount', async () => {
      const { admin } = await newAccount();
      const before = await db(
        async (client) => (await client.query('SELECT count(*)::int AS n FROM spaces.accounts')).rows[0].n as number,
      );
      expect(await errorCode(spaces.call(SpacesV1.createAccount, { name: 'sneaky' }, admin))).toBe('forbidden');
      expect(await errorCode(spaces.call(SpacesV1.ensureRootAccount, { bootstrapKey: generateApiKey() }, admin))).toBe(
        'forbidden',
      );
      const after = await db(
        async (client) => (await client.query('SELECT count(*)::int AS n FROM spaces.accounts')).rows[0].n as number,
      );
      expect(after).toBe(before);
    });
  });

  describe('subaccounts', () => {
    it('refuses to delete a subaccount that owns spaces with invalid_state, deleting nothing', async () => {
      const { admin } = await newAccount();
      const sub = await spaces.call(SpacesV1.createSubaccount, { name: 'owner' }, admin);
      const space = await spaces.call(SpacesV1.createSpace, { name: 'owned', subaccountId: sub.id }, admin);
      const subKey = await newKey(admin, { role: 'member', subaccountId: sub.id });

      expect(await errorCode(spaces.call(SpacesV1.deleteSubaccount, { subaccountId: sub.id }, admin))).toBe(
        'invalid_state',
      );

      expect((await spaces.call(SpacesV1.getSubaccount, { subaccountId: sub.id }, admin)).name).toBe('owner');
      expect((await spaces.call(SpacesV1.getSpace, { spaceId: space.id }, admin)).subaccountId).toBe(sub.id);
      // The subaccount's keys would go with it (ON DELETE CASCADE): they must still be there and working.
      expect((await authenticate(subKey.secret)).subaccountId).toBe(sub.id);

      // Once empty, it can go, taking its keys with it; the space's files went first.
      await spaces.call(SpacesV1.deleteSpace, { spaceId: space.id }, admin);
      expect(purgedSpaces.at(-1)).toBe(space.id);
      expect(await spaces.call(SpacesV1.deleteSubaccount, { subaccountId: sub.id }, admin)).toMatchObject({
        id: sub.id,
        deleted: true,
      });
      expect(await errorCode(authenticate(subKey.secret))).toBe('unauthenticated');
    });
  });

  describe('vault key rotation', () => {
    it('re-wraps every data key under a new first key, after which the old key can go; a missing key is named', async () => {
      const [k1, k2] = [newVaultKey('k1'), newVaultKey('k2')];
      const databaseUrl = await freshDatabase();
      // One at a time: in-process transports share subjects within the process, like NATS queue groups.
      let running: Harness | undefined;
      const start = async (keys: string) => {
        await running?.app.close();
        running = await startSpaces({ databaseUrl, root: { generateKey: false }, vault: parseVaultKeys(keys) });
        return running;
      };
      const first = await start(k1);
      const created = await first.call(SpacesV1.createAccount, { name: 'vault' }, OPERATOR);
      const { principal: message } = await first.call(
        SpacesV1.authenticate,
        { keyHash: hashApiKey(created.adminKeySecret) },
        OPERATOR,
      );
      const admin: KeyPrincipal = {
        kind: 'key',
        accountId: message?.accountId as string,
        subaccountId: null,
        spaceIds: null,
        role: 'admin',
        keyId: message?.keyId as string,
      };
      const space = await first.call(SpacesV1.createSpace, { name: 'vault' }, admin);
      const secrets = await Promise.all(
        ['a', 'b', 'c'].map((name) =>
          first.call(SecretsV1.createSecret, { spaceId: space.id, name, value: `value-${name}` }, admin),
        ),
      );
      await first.call(SecretsV1.rotateSecretValue, { secretId: secrets[0]?.id as string, value: 'value-a2' }, admin);
      const resolve = (harness: Harness, secretId: string) =>
        harness.call(SecretsV1.resolveSecret, { secretId, spaceId: space.id }, admin);

      // k2 first: new versions use it, and the rewrap moves the rest.
      const rotated = await start(`${k2},${k1}`);
      expect(await rotated.call(SecretsV1.rewrapSecrets, {}, OPERATOR)).toMatchObject({
        rewrapped: 3n,
        alreadyCurrent: 0n,
        unreadable: 0n,
        missingKeyIds: [],
      });
      expect(await rotated.call(SecretsV1.rewrapSecrets, {}, OPERATOR)).toMatchObject({
        rewrapped: 0n,
        alreadyCurrent: 3n,
      });
      // Now k1 can leave.
      const retired = await start(k2);
      expect(await resolve(retired, secrets[0]?.id as string)).toMatchObject({ value: 'value-a2', version: 2 });
      expect(await resolve(retired, secrets[2]?.id as string)).toMatchObject({ value: 'value-c', version: 1 });
      // Without k2, a read is a clear error naming it, and the rewrap reports what it could not read.
      const lost = await start(k1);
      const failure = await resolve(lost, secrets[1]?.id as string).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(BctrlError);
      expect(failure).toMatchObject({ code: 'unavailable', message: expect.stringContaining('k2') });
      expect(await lost.call(SecretsV1.rewrapSecrets, {}, OPERATOR)).toMatchObject({
        rewrapped: 0n,
        unreadable: 3n,
        missingKeyIds: ['k2'],
      });
      // A tenant's key cannot run the rewrap.
      expect(await errorCode(lost.call(SecretsV1.rewrapSecrets, {}, admin))).toBe('forbidden');
      await lost.app.close();
    });
  });
});
