import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { type ScriptedModelServer, startScriptedModelServer } from '@bctrl/testing';
import type { Platform } from './platform';

/** AI connections through the public API, against scripted fakes of the providers' protocols (loopback). */
export function defineAiConnectionsSuite(platform: () => Platform) {
  const http = () => request(platform().url);
  const auth = (key = platform().adminKey) => ({ Authorization: `Bearer ${key}` });

  describe('AI connections', () => {
    // The provider key, as a canary: it may appear nowhere but in the vault and on the wire to the provider.
    const apiKey = `sk-canary-${randomBytes(12).toString('hex')}`;
    let models: ScriptedModelServer;
    let spaceId: string;
    let keySecretId: string;

    async function secret(value: string, space = spaceId) {
      const res = await http()
        .post(`/v1/spaces/${space}/secrets`)
        .set(auth())
        .send({ name: `key-${randomBytes(4).toString('hex')}`, value });
      expect(res.status).toBe(201);
      return res.body.id as string;
    }

    async function connection(body: Record<string, unknown>) {
      return http()
        .post(`/v1/spaces/${spaceId}/ai-connections`)
        .set(auth())
        .send({
          name: `conn-${randomBytes(4).toString('hex')}`,
          model: 'test-model',
          apiKeySecretId: keySecretId,
          ...body,
        });
    }

    beforeAll(async () => {
      models = await startScriptedModelServer({ apiKey });
      spaceId = (await http().post('/v1/spaces').set(auth()).send({ name: 'ai' })).body.id as string;
      keySecretId = await secret(apiKey);
    });
    afterAll(() => models?.stop());

    it('creates, reads, lists and updates a connection that names its key by secret id only', async () => {
      const created = await connection({ name: 'main', provider: 'openai', baseUrl: models.baseUrl });
      expect(created.status).toBe(201);
      expect(created.body).toEqual({
        id: expect.stringMatching(/^aic_/),
        spaceId,
        name: 'main',
        provider: 'openai',
        model: 'test-model',
        baseUrl: models.baseUrl,
        apiKeySecretId: keySecretId,
        createdAt: expect.any(String),
        updatedAt: expect.any(String),
      });
      const id = created.body.id as string;
      expect((await http().get(`/v1/ai-connections/${id}`).set(auth())).body).toEqual(created.body);
      const listed = await http().get(`/v1/spaces/${spaceId}/ai-connections`).set(auth());
      expect(listed.body.data).toEqual(expect.arrayContaining([created.body]));
      const updated = await http()
        .patch(`/v1/ai-connections/${id}`)
        .set(auth())
        .send({ model: 'other-model', baseUrl: '' });
      expect(updated.body).toMatchObject({ id, model: 'other-model', baseUrl: null });
      for (const res of [created, listed, updated]) expect(JSON.stringify(res.body)).not.toContain(apiKey);
    });

    it.each(['openai', 'anthropic', 'openai-compatible'])(
      'tests a %s connection with one tiny call that reaches the model with the vault key',
      async (provider) => {
        const created = await connection({ provider, baseUrl: models.baseUrl });
        const before = models.requests.length;
        const tested = await http().post(`/v1/ai-connections/${created.body.id}/test`).set(auth()).send();
        expect(tested.status).toBe(200);
        expect(tested.body).toEqual({ ok: true, model: 'test-model', latencyMs: expect.any(Number) });
        const sent = models.requests.slice(before);
        expect(sent).toEqual([expect.objectContaining({ authorized: true, model: 'test-model' })]);
        expect(JSON.stringify(tested.body)).not.toContain(apiKey);
      },
    );

    it("answers a provider's refusal with 422 ai_connection_failed, its status and message, and never the key", async () => {
      const wrongKey = `sk-wrong-${randomBytes(12).toString('hex')}`;
      const wrongSecret = await secret(wrongKey);
      for (const provider of ['openai', 'anthropic']) {
        const created = await connection({ provider, baseUrl: models.baseUrl, apiKeySecretId: wrongSecret });
        const refused = await http().post(`/v1/ai-connections/${created.body.id}/test`).set(auth()).send();
        expect(refused.status).toBe(422);
        expect(refused.body.error.code).toBe('ai_connection_failed');
        expect(refused.body.error.message).toContain('answered 401');
        expect(refused.body.error.details).toEqual([{ field: 'provider', issue: 'status 401' }]);
        expect(JSON.stringify(refused.body)).not.toContain(wrongKey);
      }
      models.script({ kind: 'rate_limited' });
      const limited = await connection({ provider: 'anthropic', baseUrl: models.baseUrl });
      const answer = await http().post(`/v1/ai-connections/${limited.body.id}/test`).set(auth()).send();
      expect(answer.status).toBe(422);
      expect(answer.body.error.message).toContain('answered 429');
    });

    it('refuses bad input with 400 naming each field, and a taken name with 409', async () => {
      const bad = await http().post(`/v1/spaces/${spaceId}/ai-connections`).set(auth()).send({ provider: 'cohere' });
      expect(bad.status).toBe(400);
      expect(bad.body.error.details.map((d: { field: string }) => d.field)).toEqual(
        expect.arrayContaining(['name', 'provider', 'model', 'apiKeySecretId']),
      );
      const noBase = await connection({ provider: 'openai-compatible' });
      expect(noBase.status).toBe(400);
      expect(noBase.body.error.details).toEqual([{ field: 'baseUrl', issue: 'is required for openai-compatible' }]);
      const withCredentials = await connection({ provider: 'openai', baseUrl: 'https://user:pw@llm.example/v1' });
      expect(withCredentials.body.error.details).toEqual([{ field: 'baseUrl', issue: 'must not carry credentials' }]);
      const otherSpace = (await http().post('/v1/spaces').set(auth()).send({ name: 'ai-other' })).body.id as string;
      const foreignKey = await connection({
        provider: 'openai',
        apiKeySecretId: await secret('x'.repeat(20), otherSpace),
      });
      expect(foreignKey.status).toBe(400);
      expect(foreignKey.body.error.details).toEqual([
        { field: 'apiKeySecretId', issue: 'must be a secret of this space' },
      ]);
      await connection({ name: 'twice', provider: 'openai' });
      const clash = await connection({ name: 'twice', provider: 'openai' });
      expect(clash.status).toBe(409);
    });

    it('keeps a secret that a connection uses from being deleted (409 naming it), and lets it go after', async () => {
      const key = await secret(`sk-${randomBytes(8).toString('hex')}`);
      const created = await connection({ provider: 'anthropic', apiKeySecretId: key });
      const refused = await http().delete(`/v1/secrets/${key}`).set(auth());
      expect(refused.status).toBe(409);
      expect(refused.body.error.details).toEqual([{ field: 'users', issue: `ai-connection ${created.body.id}` }]);
      expect((await http().delete(`/v1/ai-connections/${created.body.id}`).set(auth())).body).toEqual({
        id: created.body.id,
        deleted: true,
      });
      expect((await http().delete(`/v1/secrets/${key}`).set(auth())).status).toBe(200);
    });
  });
}
