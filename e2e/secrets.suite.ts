import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { RunEvent, SecretsV1, SpacesV1 } from '@bctrl/contracts';
import { hashApiKey, type KeyPrincipal, type Role } from '@bctrl/core';
import type { Platform } from './platform';
import { readRunEvents } from './run-events';

/** The vault through the public API (and its one internal reader), written once and run against each way of running. */
export function defineSecretsSuite(platform: () => Platform) {
  const http = () => request(platform().url);
  const auth = (key = platform().adminKey) => ({ Authorization: `Bearer ${key}` });

  /** A value no other text contains: any sighting of it outside the vault is a leak. */
  const canary = () => `canary-${randomBytes(12).toString('hex')}`;

  async function keyPrincipal(secret: string): Promise<KeyPrincipal> {
    const { principal } = await platform().operator(SpacesV1.authenticate, { keyHash: hashApiKey(secret) });
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

  async function newKey(role: Role, spaceIds?: string[]) {
    const res = await http()
      .post('/v1/api-keys')
      .set(auth())
      .send({ name: `secrets-${role}`, role, ...(spaceIds ? { spaceIds } : {}) });
    expect(res.status).toBe(201);
    return res.body.secret as string;
  }

  describe('secrets (the vault)', () => {
    let spaceId: string;
    let otherSpaceId: string;

    beforeAll(async () => {
      const [a, b] = await Promise.all([
        http().post('/v1/spaces').set(auth()).send({ name: 'vault-a' }),
        http().post('/v1/spaces').set(auth()).send({ name: 'vault-b' }),
      ]);
      spaceId = a.body.id as string;
      otherSpaceId = b.body.id as string;
    });

    it('creates a secret whose value no answer ever shows, and rotates it to the next version', async () => {
      const value = canary();
      const created = await http()
        .post(`/v1/spaces/${spaceId}/secrets`)
        .set(auth())
        .send({ name: 'db-password', value, description: 'for the staging db' });
      expect(created.status).toBe(201);
      expect(created.body).toEqual({
        id: expect.stringMatching(/^sec_/),
        spaceId,
        name: 'db-password',
        description: 'for the staging db',
        version: 1,
        createdAt: expect.any(String),
        updatedAt: expect.any(String),
        lastUsedAt: null,
      });
      const id = created.body.id as string;
      const read = await http().get(`/v1/secrets/${id}`).set(auth());
      const listed = await http().get(`/v1/spaces/${spaceId}/secrets`).set(auth());
      expect(read.body).toEqual(created.body);
      expect(listed.body.data).toEqual(expect.arrayContaining([created.body]));

      const next = canary();
      const rotated = await http().put(`/v1/secrets/${id}/value`).set(auth()).send({ value: next });
      expect(rotated.status).toBe(200);
      expect(rotated.body).toMatchObject({ id, version: 2 });
      const renamed = await http().patch(`/v1/secrets/${id}`).set(auth()).send({ name: 'db-pass', description: '' });
      expect(renamed.body).toMatchObject({ id, name: 'db-pass', description: '', version: 2 });

      for (const res of [created, read, listed, rotated, renamed]) {
        expect(JSON.stringify(res.body)).not.toContain('canary-');
        expect(JSON.stringify(res.headers)).not.toContain('canary-');
      }
    });

    it('answers a retried create with the same Idempotency-Key with the first secret', async () => {
      const body = { name: 'idempotent', value: canary() };
      const key = `idem-${randomBytes(6).toString('hex')}`;
      const first = await http()
        .post(`/v1/spaces/${spaceId}/secrets`)
        .set(auth())
        .set('Idempotency-Key', key)
        .send(body);
      const again = await http()
        .post(`/v1/spaces/${spaceId}/secrets`)
        .set(auth())
        .set('Idempotency-Key', key)
        .send(body);
      expect(first.status).toBe(201);
      expect(again.body).toEqual(first.body);
    });

    it('refuses bad input with 400 naming each field, a taken name with 409, and changes nothing', async () => {
      const missing = await http().post(`/v1/spaces/${spaceId}/secrets`).set(auth()).send({});
      expect(missing.status).toBe(400);
      expect(missing.body.error.code).toBe('validation_failed');
      expect(missing.body.error.details.map((d: { field: string }) => d.field)).toEqual(
        expect.arrayContaining(['name', 'value']),
      );
      const empty = await http().post(`/v1/spaces/${spaceId}/secrets`).set(auth()).send({ name: 'x', value: '' });
      expect(empty.status).toBe(400);
      const tooBig = await http()
        .post(`/v1/spaces/${spaceId}/secrets`)
        .set(auth())
        .send({ name: 'big', value: 'é'.repeat(40 * 1024) });
      expect(tooBig.status).toBe(400);
      expect(tooBig.body.error.details).toEqual([{ field: 'value', issue: 'must be at most 65536 bytes' }]);
      const first = await http()
        .post(`/v1/spaces/${spaceId}/secrets`)
        .set(auth())
        .send({ name: 'taken', value: canary() });
      expect(first.status).toBe(201);
      const value = canary();
      const clash = await http().post(`/v1/spaces/${spaceId}/secrets`).set(auth()).send({ name: 'taken', value });
      expect(clash.status).toBe(409);
      expect(clash.body.error.code).toBe('conflict');
      expect(JSON.stringify(clash.body)).not.toContain(value);
      // The same name is free in another space.
      const elsewhere = await http()
        .post(`/v1/spaces/${otherSpaceId}/secrets`)
        .set(auth())
        .send({ name: 'taken', value });
      expect(elsewhere.status).toBe(201);
      const badRotation = await http().put(`/v1/secrets/${first.body.id}/value`).set(auth()).send({});
      expect(badRotation.status).toBe(400);
      expect((await http().get(`/v1/secrets/${first.body.id}`).set(auth())).body.version).toBe(1);
    });

    it('keeps secrets to their tenants: 404 out of reach, 403 for a viewer writing, 200 for a viewer reading', async () => {
      const created = await http()
        .post(`/v1/spaces/${spaceId}/secrets`)
        .set(auth())
        .send({ name: 'tenancy', value: canary() });
      const id = created.body.id as string;
      const limited = await newKey('member', [otherSpaceId]);
      expect((await http().get(`/v1/secrets/${id}`).set(auth(limited))).status).toBe(404);
      expect((await http().put(`/v1/secrets/${id}/value`).set(auth(limited)).send({ value: canary() })).status).toBe(
        404,
      );
      expect((await http().get(`/v1/spaces/${spaceId}/secrets`).set(auth(limited))).status).toBe(404);
      const viewer = await newKey('viewer');
      expect((await http().get(`/v1/secrets/${id}`).set(auth(viewer))).status).toBe(200);
      const write = await http()
        .post(`/v1/spaces/${spaceId}/secrets`)
        .set(auth(viewer))
        .send({ name: 'v', value: canary() });
      expect(write.status).toBe(403);
      expect((await http().delete(`/v1/secrets/${id}`).set(auth(viewer))).status).toBe(403);
      expect((await http().get('/v1/secrets/sec_doesnotexist0000000000').set(auth())).status).toBe(404);
      expect((await http().get('/v1/secrets/not-an-id').set(auth())).status).toBe(404);
    });

    it('deletes a secret: gone for reads and for its users', async () => {
      const created = await http()
        .post(`/v1/spaces/${spaceId}/secrets`)
        .set(auth())
        .send({ name: 'gone', value: canary() });
      const id = created.body.id as string;
      const deleted = await http().delete(`/v1/secrets/${id}`).set(auth());
      expect(deleted.body).toEqual({ id, deleted: true });
      expect((await http().get(`/v1/secrets/${id}`).set(auth())).status).toBe(404);
      const principal = await keyPrincipal(platform().adminKey);
      await expect(
        platform().transport.request(SecretsV1.resolveSecret, { secretId: id, spaceId }, { principal }),
      ).rejects.toMatchObject({ code: 'not_found' });
    });

    it('gives a using service the value for its caller in that space only, and records the use on the run', async () => {
      const value = canary();
      const created = await http().post(`/v1/spaces/${spaceId}/secrets`).set(auth()).send({ name: 'used', value });
      const id = created.body.id as string;
      const runtime = await http().post(`/v1/spaces/${spaceId}/runtimes?wait=true`).set(auth()).send({});
      expect(runtime.body.status).toBe('ready');
      const runId = runtime.body.activeRunId as string;
      try {
        const principal = await keyPrincipal(platform().adminKey);
        const resolved = await platform().transport.request(
          SecretsV1.resolveSecret,
          { secretId: id, spaceId, use: { user: 'proxy prx_test', runId, runtimeId: runtime.body.id } },
          { principal },
        );
        expect(resolved).toMatchObject({ value, version: 1 });
        // Not for another space, and not for a viewer (who could not drive a runtime there either).
        await expect(
          platform().transport.request(SecretsV1.resolveSecret, { secretId: id, spaceId: otherSpaceId }, { principal }),
        ).rejects.toMatchObject({ code: 'not_found' });
        const viewer = await keyPrincipal(await newKey('viewer'));
        await expect(
          platform().transport.request(SecretsV1.resolveSecret, { secretId: id, spaceId }, { principal: viewer }),
        ).rejects.toMatchObject({ code: 'forbidden' });

        const events = await readRunEvents(platform().transport, runId, (seen) =>
          seen.some((event) => event.type === RunEvent.secretUsed),
        );
        const used = events.find((event) => event.type === RunEvent.secretUsed);
        expect(used?.data).toEqual({ secretId: id, version: 1, user: 'proxy prx_test' });
        expect(JSON.stringify(events)).not.toContain(value);
        const after = await http().get(`/v1/secrets/${id}`).set(auth());
        expect(after.body.lastUsedAt).toEqual(expect.any(String));
      } finally {
        await http().post(`/v1/runtimes/${runtime.body.id}/stop`).set(auth()).send({});
      }
    });
  });
}
