import request from 'supertest';
import { SpacesV1 } from '@bctrl/contracts';
import { sleep, waitFor } from '@bctrl/testing';
import { chromiumOf } from './browsers';
import type { Platform } from './platform';
import { readRunEvents } from './run-events';

/**
 * Runtimes with real Chromium, through the public API, written once and run against each way of running.
 * `platform` is the running platform of the surrounding suite.
 */
export function defineRuntimeSuite(platform: () => Platform) {
  const http = () => request(platform().url);
  const admin = () => ({ Authorization: `Bearer ${platform().adminKey}` });

  async function space(name: string, key = platform().adminKey): Promise<string> {
    const res = await http()
      .post('/v1/spaces')
      .set({ Authorization: `Bearer ${key}` })
      .send({ name });
    expect(res.status).toBe(201);
    return res.body.id as string;
  }

  async function statusOf(id: string) {
    return (await http().get(`/v1/runtimes/${id}`).set(admin())).body as { status: string; stopReason: string | null };
  }

  describe('runtimes', () => {
    it('creates a runtime with wait=true that is ready with a run, keeps it alive, and stops it idempotently', async () => {
      const spaceId = await space('rt-lifecycle');
      const created = await http()
        .post(`/v1/spaces/${spaceId}/runtimes?wait=true`)
        .set(admin())
        .send({ type: 'browser', timeoutSeconds: 300, viewport: { width: 1024, height: 700 }, metadata: { job: 'a' } });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({
        id: expect.stringMatching(/^rt_[0-9A-Za-z]{24}$/),
        spaceId,
        type: 'browser',
        status: 'ready',
        activeRunId: expect.stringMatching(/^run_[0-9A-Za-z]{24}$/),
        stopReason: null,
        config: { timeoutSeconds: 300, viewport: { width: 1024, height: 700 }, recording: true },
        metadata: { job: 'a' },
      });
      const id = created.body.id as string;
      expect(Date.parse(created.body.expiresAt) - Date.parse(created.body.readyAt)).toBe(300_000);
      expect(chromiumOf(id)).toBeDefined();

      const listed = await http().get(`/v1/spaces/${spaceId}/runtimes?status=ready`).set(admin());
      expect(listed.body.data.map((r: { id: string }) => r.id)).toEqual([id]);
      expect((await http().get(`/v1/spaces/${spaceId}/runtimes?status=stopped`).set(admin())).body.data).toEqual([]);

      await sleep(1_100);
      const kept = await http().post(`/v1/runtimes/${id}/keepalive`).set(admin());
      expect(kept.status).toBe(200);
      expect(Date.parse(kept.body.expiresAt)).toBeGreaterThan(Date.parse(created.body.expiresAt));

      const stopped = await http().post(`/v1/runtimes/${id}/stop`).set(admin());
      expect(stopped.status).toBe(200);
      expect(stopped.body).toMatchObject({ id, status: 'stopped', stopReason: 'requested', activeRunId: null });
      expect(stopped.body.stoppedAt).toEqual(expect.any(String));
      expect(chromiumOf(id)).toBeUndefined();
      const again = await http().post(`/v1/runtimes/${id}/stop`).set(admin());
      expect(again.body).toMatchObject({
        status: 'stopped',
        stopReason: 'requested',
        stoppedAt: stopped.body.stoppedAt,
      });
      expect((await http().post(`/v1/runtimes/${id}/keepalive`).set(admin())).status).toBe(409);
    });

    it("publishes the lifecycle on the run's stream, in order, each start opening a new run", async () => {
      const spaceId = await space('rt-events');
      const created = await http()
        .post(`/v1/spaces/${spaceId}/runtimes?wait=true`)
        .set(admin())
        .send({ type: 'browser' });
      const runId = created.body.activeRunId as string;
      await http().post(`/v1/runtimes/${created.body.id}/stop`).set(admin());
      // The run also carries the browser's own page events (from its agent, at their own pace): the lifecycle is
      // the runtime.* ones.
      const events = (
        await readRunEvents(platform().transport, runId, (seen) => seen.some((e) => e.type === 'runtime.stopped'))
      ).filter((e) => e.type.startsWith('runtime.'));
      expect(events.map((e) => e.type)).toEqual([
        'runtime.starting',
        'runtime.ready',
        'runtime.stopping',
        'runtime.stopped',
      ]);
      expect(events[1]?.data).toMatchObject({ warm: false, startMs: expect.any(Number) });
      expect(events[3]?.data).toEqual({ stopReason: 'requested' });
      const second = await http()
        .post(`/v1/spaces/${spaceId}/runtimes?wait=true`)
        .set(admin())
        .send({ type: 'browser' });
      expect(second.body.activeRunId).not.toBe(runId);
      await http().post(`/v1/runtimes/${second.body.id}/stop`).set(admin());
    });

    it('answers without wait at once, then becomes ready', async () => {
      const spaceId = await space('rt-nowait');
      const created = await http().post(`/v1/spaces/${spaceId}/runtimes`).set(admin()).send({ type: 'browser' });
      expect(created.status).toBe(201);
      expect(['pending', 'starting', 'ready']).toContain(created.body.status);
      const id = created.body.id as string;
      await waitFor('ready', async () => ((await statusOf(id)).status === 'ready' ? true : undefined));
      await http().post(`/v1/runtimes/${id}/stop`).set(admin());
    });

    it('stops a runtime at its timeout and an idle one at its idle timeout', async () => {
      const spaceId = await space('rt-timeouts');
      const [timed, idle] = await Promise.all([
        http()
          .post(`/v1/spaces/${spaceId}/runtimes?wait=true`)
          .set(admin())
          .send({ type: 'browser', timeoutSeconds: 10 }),
        http()
          .post(`/v1/spaces/${spaceId}/runtimes?wait=true`)
          .set(admin())
          .send({ type: 'browser', timeoutSeconds: 300, idleTimeoutSeconds: 10 }),
      ]);
      expect([timed.body.status, idle.body.status]).toEqual(['ready', 'ready']);
      const settled = await waitFor(
        'both stopped',
        async () => {
          const [a, b] = await Promise.all([statusOf(timed.body.id), statusOf(idle.body.id)]);
          return a.status === 'stopped' && b.status === 'stopped' ? [a, b] : undefined;
        },
        25_000,
      );
      expect(settled.map((r) => r.stopReason)).toEqual(['timeout', 'idle']);
      expect(chromiumOf(timed.body.id)).toBeUndefined();
      expect(chromiumOf(idle.body.id)).toBeUndefined();
    }, 45_000);

    it('fails a runtime with crashed when its Chromium dies', async () => {
      const spaceId = await space('rt-crash');
      const created = await http()
        .post(`/v1/spaces/${spaceId}/runtimes?wait=true`)
        .set(admin())
        .send({ type: 'browser' });
      const id = created.body.id as string;
      const chromium = chromiumOf(id);
      expect(chromium).toBeDefined();
      process.kill(chromium?.pid as number, 'SIGKILL');
      const failed = await waitFor('failed', async () => {
        const runtime = await statusOf(id);
        return runtime.status === 'failed' ? runtime : undefined;
      });
      expect(failed).toMatchObject({ status: 'failed', stopReason: 'crashed', activeRunId: null });
    });

    it('keeps a space with a live runtime (409) unless force=true, which stops it first', async () => {
      const spaceId = await space('rt-space-delete');
      const created = await http()
        .post(`/v1/spaces/${spaceId}/runtimes?wait=true`)
        .set(admin())
        .send({ type: 'browser' });
      const refused = await http().delete(`/v1/spaces/${spaceId}`).set(admin());
      expect(refused.status).toBe(409);
      expect(refused.body.error.code).toBe('invalid_state');
      const forced = await http().delete(`/v1/spaces/${spaceId}?force=true`).set(admin());
      expect(forced.status).toBe(200);
      expect(chromiumOf(created.body.id)).toBeUndefined();
      expect((await http().get(`/v1/runtimes/${created.body.id}`).set(admin())).status).toBe(200);
      expect((await statusOf(created.body.id)).status).toBe('stopped');
    });

    it('rejects bad runtime requests with 4xx and starts nothing', async () => {
      const spaceId = await space('rt-bad');
      const bad: Array<[object, string]> = [
        [{ type: 'firefox' }, 'type'],
        // `type` may be left out (API.md: browser is the default); the rest of the body is still checked.
        [{ timeoutSeconds: 5 }, 'timeoutSeconds'],
        [{ type: 'browser', timeoutSeconds: 5 }, 'timeoutSeconds'],
        [{ type: 'browser', timeoutSeconds: 'long' }, 'timeoutSeconds'],
        [{ type: 'browser', timeoutSeconds: 999_999 }, 'timeoutSeconds'],
        [{ type: 'browser', timeoutSeconds: 60, idleTimeoutSeconds: 120 }, 'idleTimeoutSeconds'],
        [{ type: 'browser', viewport: { width: 10, height: 10 } }, 'viewport.width'],
        [{ type: 'browser', viewport: { width: 800 } }, 'viewport.height'],
        [{ type: 'browser', timezone: 'Mars/Olympus' }, 'timezone'],
        [{ type: 'browser', locale: 'not a locale' }, 'locale'],
        [{ type: 'browser', profileId: 'prof_4VxWq9Zb1Lr8Tt2Ke0Hm3NpQ' }, 'profileId'],
        [{ type: 'browser', proxyId: 'prx_4VxWq9Zb1Lr8Tt2Ke0Hm3NpQ' }, 'proxyId'],
        [{ type: 'browser', color: 'blue' }, 'color'],
      ];
      for (const [body, field] of bad) {
        const res = await http().post(`/v1/spaces/${spaceId}/runtimes`).set(admin()).send(body);
        expect({ body, status: res.status, code: res.body.error?.code }).toEqual({
          body,
          status: 400,
          code: 'validation_failed',
        });
        expect(res.body.error.details.map((d: { field?: string }) => d.field)).toContain(field);
      }
      expect(
        (await http().post(`/v1/spaces/${spaceId}/runtimes?wait=maybe`).set(admin()).send({ type: 'browser' })).status,
      ).toBe(400);
      expect((await http().get(`/v1/spaces/${spaceId}/runtimes?status=sleeping`).set(admin())).status).toBe(400);
      expect((await http().get(`/v1/spaces/${spaceId}/runtimes`).set(admin())).body.data).toEqual([]);
      for (const id of ['rt_x', 'nope', 'rt_4VxWq9Zb1Lr8Tt2Ke0Hm3NpQ']) {
        expect((await http().get(`/v1/runtimes/${id}`).set(admin())).status).toBe(404);
        expect((await http().post(`/v1/runtimes/${id}/stop`).set(admin())).status).toBe(404);
      }
      expect(
        (await http().post('/v1/spaces/spc_4VxWq9Zb1Lr8Tt2Ke0Hm3NpQ/runtimes').set(admin()).send({ type: 'browser' }))
          .status,
      ).toBe(404);
    });

    it("hides another tenant's runtimes and refuses viewers", async () => {
      const spaceId = await space('rt-tenancy');
      const created = await http().post(`/v1/spaces/${spaceId}/runtimes`).set(admin()).send({ type: 'browser' });
      const other = await platform().operator(SpacesV1.createAccount, { name: 'rt-other' });
      const them = { Authorization: `Bearer ${other.adminKeySecret}` };
      expect((await http().get(`/v1/runtimes/${created.body.id}`).set(them)).status).toBe(404);
      expect((await http().post(`/v1/runtimes/${created.body.id}/stop`).set(them)).status).toBe(404);
      expect((await http().get(`/v1/spaces/${spaceId}/runtimes`).set(them)).status).toBe(404);
      expect((await http().post(`/v1/spaces/${spaceId}/runtimes`).set(them).send({ type: 'browser' })).status).toBe(
        404,
      );
      const viewer = (await http().post('/v1/api-keys').set(admin()).send({ name: 'rt-viewer', role: 'viewer' })).body
        .secret as string;
      const asViewer = { Authorization: `Bearer ${viewer}` };
      expect((await http().get(`/v1/runtimes/${created.body.id}`).set(asViewer)).status).toBe(200);
      expect((await http().post(`/v1/spaces/${spaceId}/runtimes`).set(asViewer).send({ type: 'browser' })).status).toBe(
        403,
      );
      expect((await http().post(`/v1/runtimes/${created.body.id}/stop`).set(asViewer)).status).toBe(403);
      await http().post(`/v1/runtimes/${created.body.id}/stop`).set(admin());
    });
  });
}
