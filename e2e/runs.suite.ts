import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import request from 'supertest';
import { CdpSession } from '@bctrl/cdp-client';
import { runSubject, runsV1 } from '@bctrl/contracts';
import { sleep, waitFor } from '@bctrl/testing';
import { adminAccountId, type Platform } from './platform';

interface RunEvent {
  seq: number;
  runId: string;
  type: string;
  at: string;
  data: Record<string, unknown>;
}

/** An SSE reader on the raw response: every event as parsed, and the end of the stream. */
export function readSse(url: string, headers: Record<string, string>) {
  const events: Array<{ id: string; event: string; data: RunEvent }> = [];
  let status = 0;
  let closeStream: () => void = () => undefined;
  const ended = new Promise<void>((resolve, reject) => {
    const req = httpRequest(url, { headers: { accept: 'text/event-stream', ...headers } }, (res) => {
      status = res.statusCode ?? 0;
      let buffered = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffered += chunk;
        let split: number;
        while ((split = buffered.indexOf('\n\n')) >= 0) {
          const block = buffered.slice(0, split);
          buffered = buffered.slice(split + 2);
          const fields: Record<string, string> = {};
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) continue;
            const colon = line.indexOf(':');
            fields[line.slice(0, colon)] = line.slice(colon + 1).trimStart();
          }
          if (fields['event']) {
            events.push({ id: fields['id'] ?? '', event: fields['event'], data: JSON.parse(fields['data'] ?? '{}') });
          }
        }
      });
      res.on('end', () => resolve());
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
    closeStream = () => req.destroy();
  });
  return { events, ended, status: () => status, close: () => closeStream() };
}

/** The durable record through the public API, written once and run against each way of running. */
export function defineRunSuite(platform: () => Platform) {
  const http = () => request(platform().url);
  const auth = (key = platform().adminKey) => ({ Authorization: `Bearer ${key}` });

  async function allEvents(runId: string): Promise<RunEvent[]> {
    const out: RunEvent[] = [];
    let after = 0;
    for (;;) {
      const page = await http().get(`/v1/runs/${runId}/events?after=${after}&limit=1000`).set(auth());
      expect(page.status).toBe(200);
      out.push(...(page.body.data as RunEvent[]));
      if (!page.body.nextCursor) return out;
      after = Number(page.body.nextCursor);
    }
  }

  describe('runs', () => {
    let spaceId: string;

    beforeAll(async () => {
      spaceId = (await http().post('/v1/spaces').set(auth()).send({ name: 'runs' })).body.id;
    });

    it('records a runtime start with its connection and commands: gap-free seqs, right counts, SSE live to the end', async () => {
      const rt = await http()
        .post(`/v1/spaces/${spaceId}/runtimes?wait=true`)
        .set(auth())
        .send({ type: 'browser', timeoutSeconds: 300 });
      const runId = rt.body.activeRunId as string;
      const run = await waitFor('the run to be recorded', async () => {
        const res = await http().get(`/v1/runs/${runId}`).set(auth());
        return res.status === 200 && res.body.counts.events >= 2 ? res.body : undefined;
      });
      expect(run).toMatchObject({ id: runId, spaceId, runtimeId: rt.body.id, status: 'active', endedAt: null });

      // A live reader from the start: it gets what was stored so far, then the rest as it happens.
      const live = readSse(`${platform().url}/v1/runs/${runId}/events`, auth());
      const conn = await http().post(`/v1/runtimes/${rt.body.id}/connections`).set(auth()).send({});
      const cdp = await CdpSession.connect(conn.body.wsUrl);
      await cdp.send('Browser.getVersion');
      await cdp.send('Target.getTargets');
      await expect(cdp.send('No.suchMethod')).rejects.toMatchObject({ code: -32601 });
      cdp.close();
      await waitFor('connection.closed to be recorded', () =>
        live.events.some((e) => e.event === 'connection.closed') ? true : undefined,
      );
      expect(live.status()).toBe(200);
      await http().post(`/v1/runtimes/${rt.body.id}/stop`).set(auth());
      await Promise.race([
        live.ended,
        sleep(15_000).then(() => Promise.reject(new Error('the SSE stream did not end'))),
      ]);

      const types = live.events.map((e) => e.event);
      expect(types.slice(0, 2)).toEqual(['runtime.starting', 'runtime.ready']);
      // Between stopping and stopped the run's recording is stored (its artifact.created), before the browser goes.
      expect(types.slice(-4)).toEqual(['runtime.stopping', 'artifact.created', 'runtime.stopped', 'end']);
      expect(types).toEqual(expect.arrayContaining(['connection.opened', 'connection.closed']));
      const streamed = live.events.filter((e) => e.event !== 'end');
      expect(streamed.map((e) => e.data.seq)).toEqual(streamed.map((_, i) => i + 1));
      expect(streamed.map((e) => e.id)).toEqual(streamed.map((e) => String(e.data.seq)));

      const stored = await allEvents(runId);
      expect(stored.map((e) => e.type)).toEqual(streamed.map((e) => e.event));
      expect(stored[1]).toMatchObject({ runId, seq: 2, type: 'runtime.ready', data: { warm: false } });

      const ended = await http().get(`/v1/runs/${runId}`).set(auth());
      expect(ended.body).toMatchObject({ status: 'ended', counts: { events: stored.length } });
      expect(ended.body.endedAt).toEqual(expect.any(String));
      const commands = await waitFor('the command records', async () => {
        const res = await http().get(`/v1/runs/${runId}/commands`).set(auth());
        return res.body.data.length >= 4 ? res.body.data : undefined;
      });
      // The client's CDP methods, then the platform action that ended the run: the stop the API was asked for.
      expect(commands.map((c: { method: string }) => c.method)).toEqual([
        'Browser.getVersion',
        'Target.getTargets',
        'No.suchMethod',
        'runtime.stop',
      ]);
      expect(commands.map((c: { seq: number }) => c.seq)).toEqual([1, 2, 3, 4]);
      expect(commands[0]).toMatchObject({ ok: true, errorCode: null, connectionId: conn.body.id, source: 'cdp' });
      expect(commands[2]).toMatchObject({ ok: false, errorCode: '-32601' });
      expect(commands[3]).toMatchObject({ source: 'platform', connectionId: null, sessionId: null, ok: true });
      expect(commands[3].durationMicros).toBeGreaterThan(0);
      expect((await http().get(`/v1/runs/${runId}`).set(auth())).body.counts.commands).toBe(4);

      // Resuming after Last-Event-ID gives the rest, and the stream of an ended run ends at once.
      const resumed = readSse(`${platform().url}/v1/runs/${runId}/events`, { ...auth(), 'Last-Event-ID': '2' });
      await resumed.ended;
      expect(resumed.events[0]?.data.seq).toBe(3);
      expect(resumed.events.at(-1)?.event).toBe('end');

      const listed = await http().get(`/v1/spaces/${spaceId}/runs`).set(auth());
      expect(listed.body.data.map((r: { id: string }) => r.id)).toContain(runId);
      const page = await http().get(`/v1/runs/${runId}/events?after=1&limit=2`).set(auth());
      expect(page.body.data.map((e: RunEvent) => e.seq)).toEqual([2, 3]);
      expect(page.body.nextCursor).toBe('3');
    });

    it("records the browser's own events: pages created, navigated and closed, and console messages", async () => {
      const rt = await http()
        .post(`/v1/spaces/${spaceId}/runtimes?wait=true`)
        .set(auth())
        .send({ type: 'browser', timeoutSeconds: 300 });
      const runId = rt.body.activeRunId as string;
      const conn = await http().post(`/v1/runtimes/${rt.body.id}/connections`).set(auth()).send({});
      const cdp = await CdpSession.connect(conn.body.wsUrl);
      const { targetId } = await cdp.send<{ targetId: string }>('Target.createTarget', { url: 'about:blank' });
      const { sessionId } = await cdp.send<{ sessionId: string }>('Target.attachToTarget', { targetId, flatten: true });
      await cdp.send('Page.navigate', { url: 'data:text/html,<title>Recorded</title><p>hello</p>' }, { sessionId });
      await cdp.send('Runtime.evaluate', { expression: "console.warn('from the page', 42)" }, { sessionId });
      await cdp.send('Target.closeTarget', { targetId });
      cdp.close();
      const events = await waitFor('page and console events', async () => {
        const all = await allEvents(runId);
        return all.some((e) => e.type === 'page.closed' && e.data['targetId'] === targetId) &&
          all.some((e) => e.type === 'console')
          ? all
          : undefined;
      });
      const mine = events.filter((e) => e.data['targetId'] === targetId).map((e) => e.type);
      expect(mine[0]).toBe('page.created');
      expect(mine).toContain('page.navigated');
      expect(mine.at(-1)).toBe('page.closed');
      const navigations = events.filter((e) => e.type === 'page.navigated' && e.data['targetId'] === targetId);
      expect(navigations.map((e) => e.data['url'])).toEqual(['data:text/html,<title>Recorded</title><p>hello</p>']);
      expect(events.find((e) => e.type === 'console')?.data).toEqual({
        targetId,
        level: 'warning',
        text: 'from the page 42',
      });
      expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
      await http().post(`/v1/runtimes/${rt.body.id}/stop`).set(auth());
    });

    it('stores a redelivered or republished event once', async () => {
      const rt = await http()
        .post(`/v1/spaces/${spaceId}/runtimes?wait=true`)
        .set(auth())
        .send({ type: 'browser', timeoutSeconds: 300 });
      const runId = rt.body.activeRunId as string;
      const tick = {
        runId,
        runtimeId: rt.body.id,
        spaceId,
        accountId: await adminAccountId(platform()),
        type: 'test.tick',
        at: new Date().toISOString(),
        dataJson: '{"n":1}',
        eventId: randomUUID(),
      };
      for (let i = 0; i < 3; i++) {
        await platform().transport.publish(runSubject(runId, 'events'), runsV1.RunEventSchema, tick, {
          principal: { kind: 'operator' },
        });
      }
      await http().post(`/v1/runtimes/${rt.body.id}/stop`).set(auth());
      const events = await waitFor('the run to end', async () => {
        const all = await allEvents(runId);
        return all.some((e) => e.type === 'runtime.stopped') ? all : undefined;
      });
      expect(events.filter((e) => e.type === 'test.tick')).toHaveLength(1);
      expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    });

    it('hides runs from other tenants and answers bad queries with 4xx', async () => {
      const rt = await http()
        .post(`/v1/spaces/${spaceId}/runtimes?wait=true`)
        .set(auth())
        .send({ type: 'browser', timeoutSeconds: 300 });
      const runId = rt.body.activeRunId as string;
      await waitFor('the run', async () =>
        (await http().get(`/v1/runs/${runId}`).set(auth())).status === 200 ? true : undefined,
      );
      const other = await http().post('/v1/spaces').set(auth()).send({ name: 'runs-other' });
      const limited = await http()
        .post('/v1/api-keys')
        .set(auth())
        .send({ name: 'other-space-only', role: 'viewer', spaceIds: [other.body.id] });
      const key = limited.body.secret as string;
      expect((await http().get(`/v1/runs/${runId}`).set(auth(key))).status).toBe(404);
      expect((await http().get(`/v1/runs/${runId}/events`).set(auth(key))).status).toBe(404);
      expect((await http().get(`/v1/runs/${runId}/commands`).set(auth(key))).status).toBe(404);
      expect((await http().get(`/v1/spaces/${spaceId}/runs`).set(auth(key))).status).toBe(404);
      const sse = readSse(`${platform().url}/v1/runs/${runId}/events`, auth(key));
      await sse.ended;
      expect(sse.status()).toBe(404);
      for (const query of ['after=-1', 'after=x', 'limit=0', 'limit=1001', 'cursor=abc', 'surprise=1']) {
        const res = await http().get(`/v1/runs/${runId}/events?${query}`).set(auth());
        expect({ query, status: res.status }).toEqual({ query, status: 400 });
      }
      const badResume = await http()
        .get(`/v1/runs/${runId}/events`)
        .set({ ...auth(), 'Last-Event-ID': 'nope' });
      expect(badResume.status).toBe(400);
      for (const id of ['x', 'run_', 'run_nope']) {
        expect((await http().get(`/v1/runs/${id}`).set(auth())).status).toBe(404);
      }
      await http().post(`/v1/runtimes/${rt.body.id}/stop`).set(auth());
    });
  });
}
