import request from 'supertest';
import { startLocalPlatform } from './e2e/platform';
import { readRunEvents } from './e2e/run-events';
(async () => {
  process.env.BCTRL_TEST_RUN_STARTED_AT = 'wp';
  const p = await startLocalPlatform({ BCTRL_WARM_POOL_SIZE: '1' });
  const auth = { Authorization: `Bearer ${p.adminKey}` };
  const spaceId = (await request(p.url).post('/v1/spaces').set(auth).send({ name: 'w' })).body.id;
  for (let i = 0; i < 8; i++) {
    while ((p.pooledBrowsers?.() ?? 0) < 1) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 500));
    const t0 = performance.now();
    const res = await request(p.url).post(`/v1/spaces/${spaceId}/runtimes?wait=true`).set(auth).send({ type: 'browser' });
    const total = performance.now() - t0;
    const ev = await readRunEvents(p.transport, res.body.activeRunId, (e) => e.some((x) => x.type === 'runtime.ready'));
    console.log(`total ${total.toFixed(1)} launch ${ev.find((e) => e.type === 'runtime.ready')?.data.startMs} warm ${ev.find((e) => e.type === 'runtime.ready')?.data.warm}`);
    await request(p.url).post(`/v1/runtimes/${res.body.id}/stop`).set(auth);
  }
  await p.stop();
})();
