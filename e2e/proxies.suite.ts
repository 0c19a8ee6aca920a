import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';
import request from 'supertest';
import { RunEvent } from '@bctrl/contracts';
import { type ForwardProxy, type Socks5Server, startForwardProxy, startSocks5Server } from '@bctrl/testing';
import { processesOfInstallation } from './browsers';
import type { Platform } from './platform';
import { readRunEvents } from './run-events';
import { startTestSite, type TestSite } from './test-site';

/**
 * Proxies through the public API, and runtimes that use them, driven by Playwright through a connection. Written once
 * and run against each way of running.
 */
export function defineProxiesSuite(platform: () => Platform) {
  const http = () => request(platform().url);
  const auth = (key = platform().adminKey) => ({ Authorization: `Bearer ${key}` });
  const USER = 'proxy-user';

  describe('proxies', () => {
    let spaceId: string;
    let otherSpaceId: string;
    let site: TestSite;

    const newSecret = async (space: string, value: string) => {
      const res = await http()
        .post(`/v1/spaces/${space}/secrets`)
        .set(auth())
        .send({ name: `pw-${randomBytes(4).toString('hex')}`, value });
      expect(res.status).toBe(201);
      return res.body.id as string;
    };

    const newProxy = async (body: Record<string, unknown>) => {
      const res = await http()
        .post(`/v1/spaces/${spaceId}/proxies`)
        .set(auth())
        .send({ name: `proxy-${randomBytes(4).toString('hex')}`, ...body });
      expect(res.status).toBe(201);
      return res.body as { id: string; server: string };
    };

    const startRuntime = async (proxyId: string) => {
      const res = await http()
        .post(`/v1/spaces/${spaceId}/runtimes?wait=true`)
        .set(auth())
        .send({ proxyId, recording: false });
      expect(res.status).toBe(201);
      expect(res.body.status).toBe('ready');
      return res.body as { id: string; activeRunId: string };
    };

    const stopRuntime = (id: string) => http().post(`/v1/runtimes/${id}/stop`).set(auth()).send({});

    /** Playwright over a CDP connection of the runtime: what a tenant's script does. */
    const drive = async <T>(runtimeId: string, work: (page: import('playwright-core').Page) => Promise<T>) => {
      const conn = await http().post(`/v1/runtimes/${runtimeId}/connections`).set(auth()).send({ type: 'cdp' });
      expect(conn.status).toBe(201);
      const browser = await chromium.connectOverCDP(conn.body.wsUrl as string);
      try {
        const context = browser.contexts()[0] ?? (await browser.newContext());
        return await work(await context.newPage());
      } finally {
        await browser.close();
      }
    };

    /** Everything the public API answers about a run: its runtime, events and command records. */
    const publicRecord = async (runtimeId: string, runId: string) =>
      JSON.stringify(
        await Promise.all([
          http().get(`/v1/runtimes/${runtimeId}`).set(auth()),
          http().get(`/v1/runs/${runId}`).set(auth()),
          http().get(`/v1/runs/${runId}/events?limit=500`).set(auth()),
          http().get(`/v1/runs/${runId}/commands?limit=500`).set(auth()),
        ]).then((answers) => answers.map((answer) => answer.body as unknown)),
      );

    beforeAll(async () => {
      const [a, b] = await Promise.all([
        http().post('/v1/spaces').set(auth()).send({ name: 'proxies-a' }),
        http().post('/v1/spaces').set(auth()).send({ name: 'proxies-b' }),
      ]);
      spaceId = a.body.id as string;
      otherSpaceId = b.body.id as string;
      site = await startTestSite();
    });

    afterAll(async () => {
      await site?.close();
    });

    it('creates, reads, lists, updates and deletes a proxy; the password is a secret id, never a value', async () => {
      const secretId = await newSecret(spaceId, `pw-${randomBytes(8).toString('hex')}`);
      const created = await http()
        .post(`/v1/spaces/${spaceId}/proxies`)
        .set(auth())
        .send({
          name: 'office',
          server: 'http://Proxy.Example.com:3128',
          username: USER,
          passwordSecretId: secretId,
          bypass: ['*.internal'],
        });
      expect(created.status).toBe(201);
      expect(created.body).toEqual({
        id: expect.stringMatching(/^prx_/),
        spaceId,
        name: 'office',
        server: 'http://proxy.example.com:3128',
        username: USER,
        passwordSecretId: secretId,
        bypass: ['*.internal'],
        createdAt: expect.any(String),
        updatedAt: expect.any(String),
      });
      const id = created.body.id as string;
      expect((await http().get(`/v1/proxies/${id}`).set(auth())).body).toEqual(created.body);
      const listed = await http().get(`/v1/spaces/${spaceId}/proxies`).set(auth());
      expect(listed.body.data).toEqual(expect.arrayContaining([created.body]));
      const cleared = await http()
        .patch(`/v1/proxies/${id}`)
        .set(auth())
        .send({ username: null, passwordSecretId: null, bypass: [] });
      expect(cleared.status).toBe(200);
      expect(cleared.body).toMatchObject({ username: null, passwordSecretId: null, bypass: [] });
      expect((await http().delete(`/v1/proxies/${id}`).set(auth())).body).toEqual({ id, deleted: true });
      expect((await http().get(`/v1/proxies/${id}`).set(auth())).status).toBe(404);
    });

    it('refuses bad proxies with 400 naming each field, and a taken name with 409', async () => {
      const fieldsOf = (res: request.Response) =>
        (res.body.error.details as Array<{ field: string }>).map((d) => d.field).sort();
      const missing = await http().post(`/v1/spaces/${spaceId}/proxies`).set(auth()).send({});
      expect(missing.status).toBe(400);
      expect(fieldsOf(missing)).toEqual(expect.arrayContaining(['name', 'server']));
      const bad = await http()
        .post(`/v1/spaces/${spaceId}/proxies`)
        .set(auth())
        .send({ name: 'bad', server: 'ftp://files.example.com:21', username: 'lonely', bypass: ['a b'] });
      expect(bad.status).toBe(400);
      expect(bad.body.error.code).toBe('validation_failed');
      expect(fieldsOf(bad)).toEqual(['bypass', 'server']);
      for (const server of ['http://p.example.com', 'http://u:pw@p.example.com:80', 'http://p.example.com:80/x']) {
        const res = await http().post(`/v1/spaces/${spaceId}/proxies`).set(auth()).send({ name: 'bad', server });
        expect([res.status, fieldsOf(res)]).toEqual([400, ['server']]);
      }
      const noPassword = await http()
        .post(`/v1/spaces/${spaceId}/proxies`)
        .set(auth())
        .send({ name: 'half', server: 'http://p.example.com:3128', username: 'alone' });
      expect([noPassword.status, fieldsOf(noPassword)]).toEqual([400, ['passwordSecretId']]);
      const foreignSecret = await newSecret(otherSpaceId, 'elsewhere');
      const foreign = await http()
        .post(`/v1/spaces/${spaceId}/proxies`)
        .set(auth())
        .send({ name: 'x', server: 'http://p.example.com:3128', username: 'u', passwordSecretId: foreignSecret });
      expect([foreign.status, fieldsOf(foreign)]).toEqual([400, ['passwordSecretId']]);
      const socks = await http()
        .post(`/v1/spaces/${spaceId}/proxies`)
        .set(auth())
        .send({
          name: 'socks-auth',
          server: 'socks5://p.example.com:1080',
          username: 'u',
          passwordSecretId: await newSecret(spaceId, 'socks'),
        });
      expect(socks.status).toBe(400);
      expect(socks.body.error.details[0].issue).toContain('Chromium cannot authenticate to SOCKS5 proxies');
      await newProxy({ name: 'taken', server: 'http://p.example.com:3128' });
      const clash = await http()
        .post(`/v1/spaces/${spaceId}/proxies`)
        .set(auth())
        .send({ name: 'taken', server: 'http://p.example.com:3128' });
      expect(clash.status).toBe(409);
      expect(clash.body.error.code).toBe('conflict');
    });

    it('keeps proxies to their tenants: 404 out of reach, 403 for a viewer writing, 200 for a viewer reading', async () => {
      const proxy = await newProxy({ server: 'http://p.example.com:3128' });
      const limited = await http()
        .post('/v1/api-keys')
        .set(auth())
        .send({ name: 'proxies-limited', role: 'member', spaceIds: [otherSpaceId] });
      const viewer = await http().post('/v1/api-keys').set(auth()).send({ name: 'proxies-viewer', role: 'viewer' });
      const outsider = limited.body.secret as string;
      expect((await http().get(`/v1/proxies/${proxy.id}`).set(auth(outsider))).status).toBe(404);
      expect((await http().delete(`/v1/proxies/${proxy.id}`).set(auth(outsider))).status).toBe(404);
      expect((await http().get(`/v1/spaces/${spaceId}/proxies`).set(auth(outsider))).status).toBe(404);
      const reader = viewer.body.secret as string;
      expect((await http().get(`/v1/proxies/${proxy.id}`).set(auth(reader))).status).toBe(200);
      expect((await http().patch(`/v1/proxies/${proxy.id}`).set(auth(reader)).send({ name: 'v' })).status).toBe(403);
      expect((await http().delete(`/v1/proxies/${proxy.id}`).set(auth(reader))).status).toBe(403);
      // A runtime of another space cannot use it: 400 as for an unknown proxy.
      const elsewhere = await http()
        .post(`/v1/spaces/${otherSpaceId}/runtimes`)
        .set(auth())
        .send({ proxyId: proxy.id });
      expect(elsewhere.status).toBe(400);
      expect(elsewhere.body.error.details).toEqual([{ field: 'proxyId', issue: 'no such proxy' }]);
    });

    describe('a runtime behind an authenticated forward proxy', () => {
      let forward: ForwardProxy;
      const password = `proxy-pw-${randomBytes(12).toString('hex')}`;

      beforeAll(async () => {
        forward = await startForwardProxy({ credentials: { username: USER, password } });
      });

      afterAll(async () => {
        await forward?.close();
      });

      it('loads the test site through the proxy with the credentials, sends a bypassed host direct, starts cold', async () => {
        const secretId = await newSecret(spaceId, password);
        // Chromium never proxies loopback unless told to (<-loopback>); `localhost` is then the host that goes direct.
        const proxy = await newProxy({
          server: forward.url,
          username: USER,
          passwordSecretId: secretId,
          bypass: ['<-loopback>', 'localhost'],
        });
        const runtime = await startRuntime(proxy.id);
        try {
          const proxiedUrl = `${site.url}/`;
          const directUrl = `${site.url.replace('127.0.0.1', 'localhost')}/second`;
          const titles = await drive(runtime.id, async (page) => {
            await page.goto(proxiedUrl);
            const first = await page.title();
            await page.goto(directUrl);
            return [first, await page.title()];
          });
          expect(titles).toEqual(['BCTRL test page', 'Second page']);
          expect(forward.carried().filter((r) => r.target === proxiedUrl)).toEqual([
            { method: 'GET', target: proxiedUrl, username: USER, password, carried: true },
          ]);
          expect(forward.requests.some((r) => r.target.includes('/second'))).toBe(false);

          const events = await readRunEvents(platform().transport, runtime.activeRunId, (seen) =>
            seen.some((e) => e.type === RunEvent.pageNavigated && String(e.data['url']).includes('/second')),
          );
          expect(events.find((e) => e.type === RunEvent.runtimeReady)?.data).toMatchObject({ warm: false });
          expect(events.find((e) => e.type === RunEvent.secretUsed)?.data).toEqual({
            secretId,
            version: 1,
            user: `proxy ${proxy.id}`,
          });

          // Not deleted from under the runtime, nor its password.
          const busy = await http().delete(`/v1/proxies/${proxy.id}`).set(auth());
          expect(busy.status).toBe(409);
          expect(busy.body.error.details).toEqual([{ field: 'users', issue: `runtime ${runtime.id}` }]);
          expect((await http().delete(`/v1/secrets/${secretId}`).set(auth())).status).toBe(409);

          // The password is in no answer, no event, no command record, and no process's command line or environment.
          expect(await publicRecord(runtime.id, runtime.activeRunId)).not.toContain(password);
          for (const { pid } of processesOfInstallation(platform().installationId)) {
            for (const file of ['cmdline', 'environ']) {
              let text = '';
              try {
                text = readFileSync(`/proc/${pid}/${file}`, 'utf8');
              } catch {
                // ended meanwhile
              }
              expect(text).not.toContain(password);
            }
          }
        } finally {
          await stopRuntime(runtime.id);
        }
        expect((await http().delete(`/v1/proxies/${proxy.id}`).set(auth())).status).toBe(200);
      });

      it('fails the navigation with the proxy refusing a wrong password, and records proxy.auth_failed', async () => {
        const wrong = `wrong-pw-${randomBytes(12).toString('hex')}`;
        const proxy = await newProxy({
          server: forward.url,
          username: USER,
          passwordSecretId: await newSecret(spaceId, wrong),
          bypass: ['<-loopback>'],
        });
        const runtime = await startRuntime(proxy.id);
        try {
          const url = `${site.url}/?refused`;
          const failure = await drive(runtime.id, (page) =>
            page.goto(url).then(
              () => null,
              (error: Error) => error,
            ),
          );
          expect(failure?.message).toContain('net::ERR_INVALID_AUTH_CREDENTIALS');
          expect(forward.carried().some((r) => r.target === url)).toBe(false);
          const events = await readRunEvents(platform().transport, runtime.activeRunId, (seen) =>
            seen.some((e) => e.type === RunEvent.proxyAuthFailed),
          );
          expect(events.find((e) => e.type === RunEvent.proxyAuthFailed)?.data).toEqual({
            proxy: forward.url,
            url,
            failures: 1,
          });
          expect(await publicRecord(runtime.id, runtime.activeRunId)).not.toContain(wrong);
        } finally {
          await stopRuntime(runtime.id);
        }
      });
    });

    it('sends a runtime through a SOCKS5 proxy without credentials', async () => {
      const socks: Socks5Server = await startSocks5Server();
      try {
        const proxy = await newProxy({ server: socks.url, bypass: ['<-loopback>'] });
        const runtime = await startRuntime(proxy.id);
        try {
          const title = await drive(runtime.id, async (page) => {
            await page.goto(`${site.url}/second`);
            return page.title();
          });
          expect(title).toBe('Second page');
          expect(socks.connects).toContain(new URL(site.url).host);
        } finally {
          await stopRuntime(runtime.id);
        }
      } finally {
        await socks.close();
      }
    });
  });
}
