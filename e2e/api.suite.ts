import { connect } from 'node:net';
import request from 'supertest';
import { SpacesV1 } from '@bctrl/contracts';
import type { Platform } from './platform';

const ENVELOPE = {
  error: {
    code: expect.any(String),
    message: expect.any(String),
    details: expect.any(Array),
    requestId: expect.stringMatching(/^[0-9a-f]{32}$/),
  },
};

/**
 * The public API as a tenant sees it, written once and run against each way of running BCTRL. Every
 * route built so far gets its happy path and its bad input: each bad request must be a 4xx in the
 * envelope, with nothing half-written.
 */
export function defineApiSuite(start: () => Promise<Platform>): () => Platform {
  let platform: Platform;
  const http = () => request(platform.url);
  const auth = (key: string) => ({ Authorization: `Bearer ${key}` });
  const admin = () => auth(platform.adminKey);

  async function createKey(body: Record<string, unknown>, as = platform.adminKey): Promise<string> {
    const res = await http().post('/v1/api-keys').set(auth(as)).send(body);
    expect(res.status).toBe(201);
    return res.body.secret as string;
  }

  async function createSpace(name: string, as = platform.adminKey, extra: Record<string, unknown> = {}) {
    const res = await http()
      .post('/v1/spaces')
      .set(auth(as))
      .send({ name, ...extra });
    expect(res.status).toBe(201);
    return res.body as { id: string; name: string };
  }

  function expectError(res: request.Response, status: number, code: string) {
    expect({ status: res.status, body: res.body }).toEqual({ status, body: ENVELOPE });
    expect(res.body.error.code).toBe(code);
    expect(res.body.error.requestId).toBe(res.headers['x-request-id']);
  }

  beforeAll(async () => {
    platform = await start();
  }, 180_000);

  afterAll(async () => {
    await platform?.stop();
  }, 60_000);

  describe('operations routes', () => {
    it('answers /healthz and /readyz without a key, with a request id', async () => {
      const health = await http().get('/healthz');
      expect(health.status).toBe(200);
      expect(health.headers['x-request-id']).toMatch(/^[0-9a-f]{32}$/);
      const ready = await http().get('/readyz');
      expect(ready.status).toBe(200);
      expect(ready.body.dependencies).toMatchObject({ transport: true, spaces: true });
    });

    it('serves the OpenAPI document and the docs page', async () => {
      const doc = await http().get('/openapi.json');
      expect(doc.status).toBe(200);
      expect(doc.body.openapi).toMatch(/^3\./);
      expect(Object.keys(doc.body.paths)).toEqual(expect.arrayContaining(['/v1/spaces', '/v1/spaces/{spaceId}']));
      const page = await http().get('/docs');
      expect(page.status).toBe(200);
      expect(page.text).toContain('/openapi.json');
      expect((await http().get('/docs/swagger-ui-bundle.js')).status).toBe(200);
    });

    it('answers an unknown route with a 404 envelope', async () => {
      expectError(await http().get('/v1/nothing-here').set(admin()), 404, 'not_found');
    });
  });

  describe('authentication', () => {
    it('refuses a missing, malformed or unknown key with 401', async () => {
      expectError(await http().get('/v1/spaces'), 401, 'unauthenticated');
      expectError(await http().get('/v1/spaces').set('Authorization', 'Basic abc'), 401, 'unauthenticated');
      expectError(await http().get('/v1/spaces').set('Authorization', 'Bearer '), 401, 'unauthenticated');
      expectError(
        await http().get('/v1/spaces').set(auth('bctrl_notARealKeyAtAllxxxxxxxxxxxxxxxxxxxxxxxxx')),
        401,
        'unauthenticated',
      );
      expect((await http().get('/v1/spaces')).headers['www-authenticate']).toBe('Bearer');
    });

    it('stops accepting a revoked key on its very next request', async () => {
      const created = await http().post('/v1/api-keys').set(admin()).send({ name: 'short-lived', role: 'member' });
      expect(created.status).toBe(201);
      const key = created.body.secret as string;
      expect((await http().get('/v1/spaces').set(auth(key))).status).toBe(200);
      const revoked = await http().delete(`/v1/api-keys/${created.body.id}`).set(admin());
      expect(revoked.status).toBe(200);
      expect(revoked.body).toEqual({ id: created.body.id, deleted: true });
      expectError(await http().get('/v1/spaces').set(auth(key)), 401, 'unauthenticated');
    });

    it('stops accepting a key once it expires', async () => {
      const expiresAt = new Date(Date.now() + 1_500).toISOString();
      const key = await createKey({ name: 'expiring', role: 'viewer', expiresAt });
      expect((await http().get('/v1/spaces').set(auth(key))).status).toBe(200);
      await new Promise((r) => setTimeout(r, 1_700));
      expectError(await http().get('/v1/spaces').set(auth(key)), 401, 'unauthenticated');
    });
  });

  describe('spaces', () => {
    it('creates, reads, lists, updates and deletes a space', async () => {
      const created = await http()
        .post('/v1/spaces')
        .set(admin())
        .send({ name: 'crud', metadata: { team: 'qa' } });
      expect(created.status).toBe(201);
      expect(created.body).toEqual({
        id: expect.stringMatching(/^spc_[0-9A-Za-z]{24}$/),
        name: 'crud',
        metadata: { team: 'qa' },
        subaccountId: null,
        createdAt: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T.*Z$/),
        updatedAt: expect.any(String),
      });
      const id = created.body.id as string;
      expect((await http().get(`/v1/spaces/${id}`).set(admin())).body).toEqual(created.body);
      const listed = await http().get('/v1/spaces').set(admin());
      expect(listed.body.data.map((s: { id: string }) => s.id)).toContain(id);
      const patched = await http()
        .patch(`/v1/spaces/${id}`)
        .set(admin())
        .send({ name: 'renamed', metadata: { env: 'prod' } });
      expect(patched.status).toBe(200);
      expect(patched.body).toMatchObject({ id, name: 'renamed', metadata: { env: 'prod' } });
      const deleted = await http().delete(`/v1/spaces/${id}`).set(admin());
      expect(deleted.body).toEqual({ id, deleted: true });
      expectError(await http().get(`/v1/spaces/${id}`).set(admin()), 404, 'not_found');
      expectError(await http().delete(`/v1/spaces/${id}`).set(admin()), 404, 'not_found');
    });

    it('pages newest first with limit and cursor, and the last page has no cursor', async () => {
      const account = await platform.operator(SpacesV1.createAccount, { name: 'paging' });
      const key = account.adminKeySecret;
      const made: string[] = [];
      for (const name of ['p1', 'p2', 'p3', 'p4', 'p5']) made.push((await createSpace(name, key)).id);
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const res: request.Response = await http()
          .get('/v1/spaces')
          .query(cursor ? { limit: 2, cursor } : { limit: 2 })
          .set(auth(key));
        expect(res.status).toBe(200);
        expect(res.body.data.length).toBeLessThanOrEqual(2);
        seen.push(...res.body.data.map((s: { id: string }) => s.id));
        cursor = res.body.nextCursor;
        pages += 1;
      } while (cursor && pages < 10);
      expect(pages).toBe(3);
      expect(seen).toEqual([...made].reverse());
    });

    it('rejects bad input on create with a 400 naming each field, and writes nothing', async () => {
      const account = await platform.operator(SpacesV1.createAccount, { name: 'bad-input' });
      const key = account.adminKeySecret;
      const cases: Array<[unknown, string]> = [
        [{}, 'name'],
        [{ name: 123 }, 'name'],
        [{ name: '' }, 'name'],
        [{ name: 'x'.repeat(201) }, 'name'],
        [{ name: 'ok', extra: true }, 'extra'],
        [{ name: 'ok', metadata: { a: 1 } }, 'metadata'],
        [
          { name: 'ok', metadata: Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, 'v'])) },
          'metadata',
        ],
        [{ name: 'ok', metadata: 'nope' }, 'metadata'],
        [{ name: 'ok', subaccountId: 'sub_bad' }, 'subaccountId'],
      ];
      for (const [body, field] of cases) {
        const res = await http()
          .post('/v1/spaces')
          .set(auth(key))
          .send(body as object);
        expectError(res, 400, 'validation_failed');
        expect(res.body.error.details.map((d: { field?: string }) => d.field)).toContain(field);
      }
      expectError(
        await http()
          .post('/v1/spaces')
          .set(auth(key))
          .send([{ name: 'array' }]),
        400,
        'validation_failed',
      );
      expectError(
        await http().post('/v1/spaces').set(auth(key)).set('Content-Type', 'application/json').send('{"name": '),
        400,
        'validation_failed',
      );
      expectError(
        await http().post('/v1/spaces').set(auth(key)).set('Content-Type', 'text/plain').send('name=x'),
        415,
        'unsupported_media_type',
      );
      expectError(
        await http()
          .post('/v1/spaces')
          .set(auth(key))
          .send({ name: 'big', metadata: { blob: 'x'.repeat(2 * 1024 * 1024) } }),
        413,
        'payload_too_large',
      );
      expect((await http().get('/v1/spaces').set(auth(key))).body).toEqual({ data: [], nextCursor: null });
    });

    it('rejects bad list parameters, malformed ids and bad PATCH bodies', async () => {
      for (const query of [
        'limit=0',
        'limit=101',
        'limit=abc',
        'limit=1.5',
        'cursor=%24%24%24',
        'cursor=eyJ4IjoxfQ',
        'unknown=1',
      ]) {
        expectError(await http().get(`/v1/spaces?${query}`).set(admin()), 400, 'validation_failed');
      }
      for (const id of ['nope', 'spc_short', 'rt_4VxWq9Zb1Lr8Tt2Ke0Hm3NpQ', 'spc_4VxWq9Zb1Lr8Tt2Ke0Hm3NpQ']) {
        expectError(await http().get(`/v1/spaces/${id}`).set(admin()), 404, 'not_found');
        expectError(await http().patch(`/v1/spaces/${id}`).set(admin()).send({ name: 'x' }), 404, 'not_found');
      }
      const space = await createSpace('patch-target');
      expectError(
        await http().patch(`/v1/spaces/${space.id}`).set(admin()).send({ name: 7 }),
        400,
        'validation_failed',
      );
      expectError(
        await http().patch(`/v1/spaces/${space.id}`).set(admin()).send({ id: 'spc_x' }),
        400,
        'validation_failed',
      );
      expectError(await http().delete(`/v1/spaces/${space.id}?force=maybe`).set(admin()), 400, 'validation_failed');
      expect((await http().get(`/v1/spaces/${space.id}`).set(admin())).body.name).toBe('patch-target');
    });
  });

  describe('idempotency', () => {
    it('replays the first answer for a retry with the same key and body, creating one space', async () => {
      const account = await platform.operator(SpacesV1.createAccount, { name: 'idem' });
      const key = account.adminKeySecret;
      const first = await http()
        .post('/v1/spaces')
        .set(auth(key))
        .set('Idempotency-Key', 'create-1')
        .send({ name: 'once' });
      const retry = await http()
        .post('/v1/spaces')
        .set(auth(key))
        .set('Idempotency-Key', 'create-1')
        .send({ name: 'once' });
      expect(first.status).toBe(201);
      expect(retry.status).toBe(201);
      expect(retry.body).toEqual(first.body);
      expect(retry.headers['idempotent-replayed']).toBe('true');
      const list = await http().get('/v1/spaces').set(auth(key));
      expect(list.body.data).toHaveLength(1);
    });

    it('refuses the same key with a different body (409) and a malformed key (400)', async () => {
      await http().post('/v1/spaces').set(admin()).set('Idempotency-Key', 'create-2').send({ name: 'a' });
      expectError(
        await http().post('/v1/spaces').set(admin()).set('Idempotency-Key', 'create-2').send({ name: 'b' }),
        409,
        'conflict',
      );
      expectError(
        await http().post('/v1/spaces').set(admin()).set('Idempotency-Key', 'x'.repeat(256)).send({ name: 'c' }),
        400,
        'validation_failed',
      );
    });

    it('keeps idempotency keys apart between accounts', async () => {
      const other = await platform.operator(SpacesV1.createAccount, { name: 'idem-other' });
      const mine = await http()
        .post('/v1/spaces')
        .set(admin())
        .set('Idempotency-Key', 'shared-key')
        .send({ name: 'mine' });
      const theirs = await http()
        .post('/v1/spaces')
        .set(auth(other.adminKeySecret))
        .set('Idempotency-Key', 'shared-key')
        .send({ name: 'mine' });
      expect(theirs.status).toBe(201);
      expect(theirs.body.id).not.toBe(mine.body.id);
    });
  });

  describe('tenancy', () => {
    it("hides another account's spaces: 404 on read, update and delete, absent from lists", async () => {
      const a = await platform.operator(SpacesV1.createAccount, { name: 'tenant-a' });
      const b = await platform.operator(SpacesV1.createAccount, { name: 'tenant-b' });
      const space = await createSpace('a-private', a.adminKeySecret);
      const asB = auth(b.adminKeySecret);
      expectError(await http().get(`/v1/spaces/${space.id}`).set(asB), 404, 'not_found');
      expectError(await http().patch(`/v1/spaces/${space.id}`).set(asB).send({ name: 'stolen' }), 404, 'not_found');
      expectError(await http().delete(`/v1/spaces/${space.id}`).set(asB), 404, 'not_found');
      expect((await http().get('/v1/spaces').set(asB)).body.data).toEqual([]);
      expect((await http().get(`/v1/spaces/${space.id}`).set(auth(a.adminKeySecret))).body.name).toBe('a-private');
    });

    it('limits a subaccount key to its subaccount, and a space-limited key to its spaces', async () => {
      const account = await platform.operator(SpacesV1.createAccount, { name: 'with-subs' });
      const root = account.adminKeySecret;
      const sub1 = (await http().post('/v1/subaccounts').set(auth(root)).send({ name: 'one' })).body.id as string;
      const sub2 = (await http().post('/v1/subaccounts').set(auth(root)).send({ name: 'two' })).body.id as string;
      const inSub1 = await createSpace('in-one', root, { subaccountId: sub1 });
      const inSub2 = await createSpace('in-two', root, { subaccountId: sub2 });
      const accountLevel = await createSpace('account-level', root);

      const sub1Key = await createKey({ name: 'sub1-admin', role: 'admin', subaccountId: sub1 }, root);
      const visible = (await http().get('/v1/spaces').set(auth(sub1Key))).body.data.map((s: { id: string }) => s.id);
      expect(visible).toEqual([inSub1.id]);
      expectError(await http().get(`/v1/spaces/${inSub2.id}`).set(auth(sub1Key)), 404, 'not_found');
      expectError(await http().get(`/v1/spaces/${accountLevel.id}`).set(auth(sub1Key)), 404, 'not_found');
      expectError(await http().get(`/v1/subaccounts/${sub2}`).set(auth(sub1Key)), 404, 'not_found');
      expect(
        (await http().get('/v1/subaccounts').set(auth(sub1Key))).body.data.map((s: { id: string }) => s.id),
      ).toEqual([sub1]);
      const createdBySub = await createSpace('made-by-sub', sub1Key);
      expect((await http().get(`/v1/spaces/${createdBySub.id}`).set(auth(root))).body.subaccountId).toBe(sub1);
      expectError(
        await http().post('/v1/spaces').set(auth(sub1Key)).send({ name: 'x', subaccountId: sub2 }),
        403,
        'forbidden',
      );
      expectError(await http().post('/v1/subaccounts').set(auth(sub1Key)).send({ name: 'nested' }), 403, 'forbidden');

      const limited = await createKey({ name: 'one-space', role: 'member', spaceIds: [accountLevel.id] }, root);
      expect((await http().get('/v1/spaces').set(auth(limited))).body.data.map((s: { id: string }) => s.id)).toEqual([
        accountLevel.id,
      ]);
      expectError(await http().get(`/v1/spaces/${inSub1.id}`).set(auth(limited)), 404, 'not_found');
      expectError(await http().post('/v1/spaces').set(auth(limited)).send({ name: 'nope' }), 403, 'forbidden');
      expect(
        (await http().patch(`/v1/spaces/${accountLevel.id}`).set(auth(limited)).send({ name: 'renamed' })).status,
      ).toBe(200);
    });

    it('enforces roles: viewers read, members write spaces, only admins manage keys and subaccounts', async () => {
      const account = await platform.operator(SpacesV1.createAccount, { name: 'roles' });
      const root = account.adminKeySecret;
      const space = await createSpace('roles-space', root);
      const viewer = await createKey({ name: 'viewer', role: 'viewer' }, root);
      const member = await createKey({ name: 'member', role: 'member' }, root);
      expect((await http().get(`/v1/spaces/${space.id}`).set(auth(viewer))).status).toBe(200);
      expectError(await http().post('/v1/spaces').set(auth(viewer)).send({ name: 'v' }), 403, 'forbidden');
      expectError(await http().patch(`/v1/spaces/${space.id}`).set(auth(viewer)).send({ name: 'v' }), 403, 'forbidden');
      expect((await http().post('/v1/spaces').set(auth(member)).send({ name: 'm' })).status).toBe(201);
      expectError(
        await http().post('/v1/api-keys').set(auth(member)).send({ name: 'k', role: 'admin' }),
        403,
        'forbidden',
      );
      expectError(await http().get('/v1/api-keys').set(auth(member)), 403, 'forbidden');
      expectError(await http().post('/v1/subaccounts').set(auth(member)).send({ name: 's' }), 403, 'forbidden');
    });
  });

  describe('subaccounts', () => {
    it('creates, reads, lists, renames and deletes a subaccount; refuses to delete one that owns spaces', async () => {
      const account = await platform.operator(SpacesV1.createAccount, { name: 'subs' });
      const root = auth(account.adminKeySecret);
      const created = await http().post('/v1/subaccounts').set(root).send({ name: 'acme' });
      expect(created.status).toBe(201);
      expect(created.body).toEqual({
        id: expect.stringMatching(/^sub_[0-9A-Za-z]{24}$/),
        name: 'acme',
        createdAt: expect.any(String),
        updatedAt: expect.any(String),
      });
      const id = created.body.id as string;
      expect((await http().get(`/v1/subaccounts/${id}`).set(root)).body).toEqual(created.body);
      expect((await http().get('/v1/subaccounts').set(root)).body.data).toEqual([created.body]);
      expect((await http().patch(`/v1/subaccounts/${id}`).set(root).send({ name: 'acme-2' })).body.name).toBe('acme-2');
      const space = await createSpace('owned', account.adminKeySecret, { subaccountId: id });
      expectError(await http().delete(`/v1/subaccounts/${id}`).set(root), 409, 'invalid_state');
      await http().delete(`/v1/spaces/${space.id}`).set(root);
      expect((await http().delete(`/v1/subaccounts/${id}`).set(root)).body).toEqual({ id, deleted: true });
      expectError(await http().get(`/v1/subaccounts/${id}`).set(root), 404, 'not_found');
    });

    it('rejects bad subaccount input', async () => {
      expectError(await http().post('/v1/subaccounts').set(admin()).send({ name: '' }), 400, 'validation_failed');
      expectError(
        await http().post('/v1/subaccounts').set(admin()).send({ name: 'x', owner: 'me' }),
        400,
        'validation_failed',
      );
      expectError(await http().get('/v1/subaccounts/sub_nope').set(admin()), 404, 'not_found');
      expectError(await http().get('/v1/subaccounts?limit=500').set(admin()), 400, 'validation_failed');
    });
  });

  describe('bad input on every write route', () => {
    /** Each route that takes a body, with a valid body to spoil and a field to give the wrong type. */
    async function writeRoutes(): Promise<
      Array<{ method: 'post' | 'patch'; path: string; body: Record<string, unknown>; typed: string }>
    > {
      const space = await createSpace('matrix-space');
      const sub = (await http().post('/v1/subaccounts').set(admin()).send({ name: 'matrix-sub' })).body.id as string;
      return [
        { method: 'post', path: '/v1/spaces', body: { name: 'm' }, typed: 'name' },
        { method: 'patch', path: `/v1/spaces/${space.id}`, body: { name: 'm' }, typed: 'name' },
        { method: 'post', path: '/v1/subaccounts', body: { name: 'm' }, typed: 'name' },
        { method: 'patch', path: `/v1/subaccounts/${sub}`, body: { name: 'm' }, typed: 'name' },
        { method: 'post', path: '/v1/api-keys', body: { name: 'm', role: 'viewer' }, typed: 'role' },
      ];
    }

    it('answers wrong types, unknown fields, non-objects, bad JSON, other media types and oversized bodies with 4xx', async () => {
      const before = {
        spaces: (await http().get('/v1/spaces?limit=100').set(admin())).body.data.length as number,
        subaccounts: (await http().get('/v1/subaccounts?limit=100').set(admin())).body.data.length as number,
        keys: (await http().get('/v1/api-keys?limit=100').set(admin())).body.data.length as number,
      };
      const routes = await writeRoutes();
      for (const route of routes) {
        const send = (body: string | object, type = 'application/json') =>
          http()[route.method](route.path).set(admin()).set('Content-Type', type).send(body);
        const why = `${route.method.toUpperCase()} ${route.path}`;
        const cases: Array<[request.Response, number, string]> = [
          [await send({ ...route.body, [route.typed]: 12345 }), 400, 'validation_failed'],
          [await send({ ...route.body, surprise: 'field' }), 400, 'validation_failed'],
          [await send(JSON.stringify([route.body])), 400, 'validation_failed'],
          [await send(JSON.stringify('just a string')), 400, 'validation_failed'],
          [await send('{"name": "unterminated'), 400, 'validation_failed'],
          [await send('name=m', 'application/x-www-form-urlencoded'), 415, 'unsupported_media_type'],
          [await send(JSON.stringify({ ...route.body, pad: 'x'.repeat(1_100_000) })), 413, 'payload_too_large'],
        ];
        for (const [res, status, code] of cases) {
          expect({ why, status: res.status, code: res.body?.error?.code }).toEqual({ why, status, code });
        }
      }
      // Only the two fixtures writeRoutes made exist: no bad request wrote anything.
      expect((await http().get('/v1/spaces?limit=100').set(admin())).body.data.length).toBe(before.spaces + 1);
      expect((await http().get('/v1/subaccounts?limit=100').set(admin())).body.data.length).toBe(
        before.subaccounts + 1,
      );
      expect((await http().get('/v1/api-keys?limit=100').set(admin())).body.data.length).toBe(before.keys);
    });

    it('answers integers beyond what the contract holds with a 400, even for ids that do not exist', async () => {
      const space = await createSpace('overflow');
      const routes: Array<[string, Record<string, unknown>, string]> = [
        [`/v1/spaces/${space.id}/runtimes`, { timeoutSeconds: 2 ** 31 }, 'timeoutSeconds'],
        [`/v1/spaces/${space.id}/runtimes`, { idleTimeoutSeconds: 2 ** 31 }, 'idleTimeoutSeconds'],
        [`/v1/spaces/${space.id}/runtimes`, { timeoutSeconds: 1e300 }, 'timeoutSeconds'],
        ['/v1/runtimes/rt_000000000000000000000000/connections', { ttlSeconds: 2 ** 31 }, 'ttlSeconds'],
        ['/v1/runtimes/rt_000000000000000000000000/connections', { ttlSeconds: 2 ** 53 }, 'ttlSeconds'],
        ['/v1/runs/run_000000000000000000000000/live-view', { ttlSeconds: 2 ** 31 }, 'ttlSeconds'],
        ['/v1/runs/run_000000000000000000000000/recording-view', { ttlSeconds: 2 ** 40 }, 'ttlSeconds'],
      ];
      for (const [path, body, field] of routes) {
        const res = await http().post(path).set(admin()).send(body);
        expect({ path, body, status: res.status, code: res.body?.error?.code }).toEqual({
          path,
          body,
          status: 400,
          code: 'validation_failed',
        });
        expect(res.body.error.details).toEqual([expect.objectContaining({ field })]);
      }
      // The largest value the contract holds passes the edge and is judged by the service's own limits.
      const largest = await http()
        .post('/v1/runtimes/rt_000000000000000000000000/connections')
        .set(admin())
        .send({ ttlSeconds: 2 ** 31 - 1 });
      expect([largest.status, largest.body.error?.details?.[0]?.field]).toEqual([400, 'ttlSeconds']);
    });

    it('refuses a body nested deeper than 128 levels with a 400, and takes one at the limit', async () => {
      const nested = (levels: number) =>
        '{"metadata":'.repeat(1) + '['.repeat(levels - 1) + ']'.repeat(levels - 1) + '}';
      for (const levels of [129, 3000, 100_000]) {
        const res = await http()
          .post('/v1/spaces')
          .set(admin())
          .set('Content-Type', 'application/json')
          .send(nested(levels));
        expect({ levels, status: res.status, code: res.body?.error?.code }).toEqual({
          levels,
          status: 400,
          code: 'validation_failed',
        });
        expect(res.body.error.message).toMatch(/nested too deeply/);
      }
      // 128 levels parse; the body is then judged on its fields (metadata must be an object of strings).
      const atLimit = await http()
        .post('/v1/spaces')
        .set(admin())
        .set('Content-Type', 'application/json')
        .send(nested(128));
      expect(atLimit.status).toBe(400);
      expect(atLimit.body.error.message).not.toMatch(/nested too deeply/);
      expect(atLimit.body.error.details.map((d: { field?: string }) => d.field)).toContain('metadata');
    });

    it('refuses a NUL in any body string with a 400 and stores nothing (Postgres cannot hold one)', async () => {
      const space = await createSpace('nul-target');
      const before = (await http().get('/v1/spaces?limit=100').set(admin())).body.data.length as number;
      const cases: Array<['post' | 'patch', string, string]> = [
        ['post', '/v1/spaces', '{"name":"n","metadata":{"k":"a\\u0000b"}}'],
        ['post', '/v1/spaces', '{"name":"a\\u0000b"}'],
        ['patch', `/v1/spaces/${space.id}`, '{"metadata":{"k":"a\\u0000b"}}'],
        ['post', `/v1/spaces/${space.id}/runtimes`, '{"metadata":{"k":"a\\u0000b"}}'],
      ];
      for (const [method, path, body] of cases) {
        const res = await http()[method](path).set(admin()).set('Content-Type', 'application/json').send(body);
        expect({ path, body, status: res.status, code: res.body?.error?.code }).toEqual({
          path,
          body,
          status: 400,
          code: 'validation_failed',
        });
        expect(res.body.error.details[0].issue).toMatch(/NUL/);
      }
      expect((await http().get('/v1/spaces?limit=100').set(admin())).body.data.length).toBe(before);
      expect((await http().get(`/v1/spaces/${space.id}`).set(admin())).body.metadata).toEqual({});
      // An escaped backslash followed by "u0000" is text, not a NUL.
      const literal = await http()
        .post('/v1/spaces')
        .set(admin())
        .set('Content-Type', 'application/json')
        .send('{"name":"n","metadata":{"k":"a\\\\u0000b"}}');
      expect([literal.status, literal.body.metadata?.k]).toEqual([201, 'a\\u0000b']);
    });

    it('answers a request with a malformed header in the error envelope, with a request id', async () => {
      const { host, port } = new URL(platform.url);
      const raw = await new Promise<string>((resolve, reject) => {
        const socket = connect(Number(port), host.split(':')[0] as string, () =>
          socket.write(`GET /v1/spaces HTTP/1.1\r\nHost: ${host}\r\nRange: a\x01b\r\n\r\n`),
        );
        let answer = '';
        socket.on('data', (chunk) => (answer += chunk.toString()));
        socket.on('end', () => resolve(answer));
        socket.on('error', reject);
      });
      const [head, body] = raw.split('\r\n\r\n') as [string, string];
      expect(head).toMatch(/^HTTP\/1\.1 400 /);
      const requestId = /x-request-id: ([0-9a-f]{32})/i.exec(head)?.[1];
      expect(JSON.parse(body)).toEqual({
        error: {
          code: 'validation_failed',
          message: expect.stringMatching(/headers are malformed/),
          details: [],
          requestId,
        },
      });
    });

    it('quotes no long input back whole in an error', async () => {
      const long = `x${'y'.repeat(15_000)}`;
      const answers = [
        await http().get(`/v1/spaces/${long}`).set(admin()),
        await http().get(`/v1/spaces?cursor=${long}`).set(admin()),
        await http()
          .post('/v1/spaces')
          .set(admin())
          .send({ name: 'n', [long]: 1 }),
        await http().get(`/v1/${long}`).set(admin()),
      ];
      for (const res of answers) {
        expect(res.status).toBeGreaterThanOrEqual(400);
        expect(res.status).toBeLessThan(500);
        expect(JSON.stringify(res.body).length).toBeLessThan(2_000);
      }
    });

    it('reads an empty body sent as JSON as no body: actions work, and a create names each missing field', async () => {
      const empty = (method: 'post' | 'patch', path: string) =>
        http()[method](path).set(admin()).set('Content-Type', 'application/json').send('');
      const created = await empty('post', '/v1/spaces');
      expect(created.status).toBe(400);
      expect(created.body.error).toMatchObject({
        code: 'validation_failed',
        details: [expect.objectContaining({ field: 'name' })],
      });
      const space = await http().post('/v1/spaces').set(admin()).send({ name: 'empty-bodies' });
      // PATCH with nothing to change changes nothing, and says so with the space as it is.
      const patched = await empty('patch', `/v1/spaces/${space.body.id}`);
      expect(patched.status).toBe(200);
      expect(patched.body).toMatchObject({ id: space.body.id, name: 'empty-bodies' });
      // Whitespace is no body either; a body that is not JSON still is a 400.
      const spaced = await http()
        .post('/v1/spaces')
        .set(admin())
        .set('Content-Type', 'application/json; charset=utf-8')
        .send('  \n');
      expect(spaced.body.error?.details?.[0]?.field).toBe('name');
      const broken = await http().post('/v1/spaces').set(admin()).set('Content-Type', 'application/json').send('{');
      expect([broken.status, broken.body.error?.code]).toEqual([400, 'validation_failed']);
      // Fastify's prototype-poisoning check still applies to bodies that are there.
      const poisoned = await http()
        .post('/v1/spaces')
        .set(admin())
        .set('Content-Type', 'application/json')
        .send('{"name": "p", "__proto__": {"admin": true}}');
      expect(poisoned.status).toBe(400);
    });

    it('answers bad cursors and limits on every list, and malformed or foreign ids on every item route, with 4xx', async () => {
      for (const list of ['/v1/spaces', '/v1/subaccounts', '/v1/api-keys']) {
        for (const query of ['limit=0', 'limit=abc', 'cursor=not*a*cursor', 'cursor=eyJ0IjoieCIsImkiOiJ5In0']) {
          const res = await http().get(`${list}?${query}`).set(admin());
          expect({ list, query, status: res.status }).toEqual({ list, query, status: 400 });
        }
      }
      const other = await platform.operator(SpacesV1.createAccount, { name: 'foreign-ids' });
      const foreignSpace = await createSpace('foreign', other.adminKeySecret);
      const foreignSub = (await http().post('/v1/subaccounts').set(auth(other.adminKeySecret)).send({ name: 'f' })).body
        .id as string;
      const items: Array<['get' | 'patch' | 'delete', string]> = [];
      for (const id of ['x', 'spc_', foreignSpace.id]) {
        items.push(['get', `/v1/spaces/${id}`], ['patch', `/v1/spaces/${id}`], ['delete', `/v1/spaces/${id}`]);
      }
      for (const id of ['x', 'sub_', foreignSub]) {
        items.push(
          ['get', `/v1/subaccounts/${id}`],
          ['patch', `/v1/subaccounts/${id}`],
          ['delete', `/v1/subaccounts/${id}`],
        );
      }
      items.push(['delete', '/v1/api-keys/x'], ['delete', '/v1/api-keys/key_']);
      for (const [method, path] of items) {
        const call = http()[method](path).set(admin());
        const res = method === 'patch' ? await call.send({ name: 'n' }) : await call;
        expect({ method, path, status: res.status, code: res.body?.error?.code }).toEqual({
          method,
          path,
          status: 404,
          code: 'not_found',
        });
      }
      expect((await http().get(`/v1/spaces/${foreignSpace.id}`).set(auth(other.adminKeySecret))).body.name).toBe(
        'foreign',
      );
    });
  });

  describe('API keys', () => {
    it('shows the secret only once and never lists it or its hash', async () => {
      const account = await platform.operator(SpacesV1.createAccount, { name: 'keys' });
      const root = auth(account.adminKeySecret);
      const created = await http().post('/v1/api-keys').set(root).send({ name: 'ci', role: 'member' });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({
        id: expect.stringMatching(/^key_/),
        name: 'ci',
        role: 'member',
        subaccountId: null,
        spaceIds: null,
        secret: expect.stringMatching(/^bctrl_[0-9A-Za-z]{40}$/),
      });
      expect(created.body.prefix).toBe(created.body.secret.slice(0, 12));
      const listed = await http().get('/v1/api-keys').set(root);
      const text = JSON.stringify(listed.body);
      expect(text).not.toContain(created.body.secret);
      expect(listed.body.data.find((k: { id: string }) => k.id === created.body.id)).not.toHaveProperty('secret');
      expect(listed.body.data.every((k: object) => !('hash' in k))).toBe(true);
    });

    it('rejects bad key requests', async () => {
      const cases: object[] = [
        { name: 'x', role: 'owner' },
        { name: 'x' },
        { name: 'x', role: 'viewer', spaceIds: 'spc_x' },
        { name: 'x', role: 'viewer', spaceIds: ['not-a-space'] },
        { name: 'x', role: 'viewer', spaceIds: ['spc_4VxWq9Zb1Lr8Tt2Ke0Hm3NpQ'] },
        { name: 'x', role: 'viewer', expiresAt: 'tomorrow' },
        { name: 'x', role: 'viewer', expiresAt: '2001-01-01T00:00:00Z' },
        { name: 'x', role: 'viewer', subaccountId: 'sub_4VxWq9Zb1Lr8Tt2Ke0Hm3NpQ' },
      ];
      for (const body of cases) {
        expectError(await http().post('/v1/api-keys').set(admin()).send(body), 400, 'validation_failed');
      }
      expectError(await http().delete('/v1/api-keys/key_nope').set(admin()), 404, 'not_found');
    });

    it("cannot revoke another account's key", async () => {
      const other = await platform.operator(SpacesV1.createAccount, { name: 'other-keys' });
      const theirs = await http()
        .post('/v1/api-keys')
        .set(auth(other.adminKeySecret))
        .send({ name: 't', role: 'viewer' });
      expectError(await http().delete(`/v1/api-keys/${theirs.body.id}`).set(admin()), 404, 'not_found');
      expect((await http().get('/v1/spaces').set(auth(theirs.body.secret))).status).toBe(200);
    });
  });

  return () => platform;
}
