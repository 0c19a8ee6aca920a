/// <reference lib="dom" />
// The page.evaluate and waitForFunction callbacks below run in browsers: they are typed against the DOM.
import { createHash, randomBytes } from 'node:crypto';
import request from 'supertest';
import { waitFor } from '@bctrl/testing';
import { DrivenRuntimes, launchTestBrowser } from './driven-runtimes';
import type { Platform } from './platform';
import { startTestSite, type TestSite } from './test-site';

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

interface RunEvent {
  type: string;
  data: Record<string, unknown>;
}

/**
 * Files in and out of runtimes through the public API, with real Chromium and Playwright: staging from space
 * storage into a file input, downloads becoming artifacts, collecting back into storage, the run's recording
 * and its replay page. Written once, run in each mode.
 */
export function defineFilesSuite(platform: () => Platform) {
  const http = () => request(platform().url);
  const auth = (key = platform().adminKey) => ({ Authorization: `Bearer ${key}` });
  let site: TestSite;
  let spaceId: string;
  const runtimes = new DrivenRuntimes(platform);
  const drivenRuntime = () => runtimes.start(spaceId);

  async function events(runId: string, until: (all: RunEvent[]) => boolean): Promise<RunEvent[]> {
    return waitFor('run events', async () => {
      const res = await http().get(`/v1/runs/${runId}/events?limit=1000`).set(auth());
      const all = res.body.data as RunEvent[];
      return until(all) ? all : undefined;
    });
  }

  async function upload(path: string, bytes: Buffer) {
    const res = await http()
      .put(`/v1/spaces/${spaceId}/storage/${path}`)
      .set(auth())
      .set('content-type', 'application/octet-stream')
      .send(bytes);
    expect(res.status).toBe(200);
  }

  describe('runtime files, downloads and recordings', () => {
    beforeAll(async () => {
      site = await startTestSite();
      spaceId = (await http().post('/v1/spaces').set(auth()).send({ name: 'files' })).body.id;
    });

    afterAll(async () => {
      await runtimes.stopAll();
      await site?.close();
    });

    it("stages a storage file into the runtime, where Playwright's setInputFiles sends identical bytes to a page", async () => {
      const bytes = randomBytes(200 * 1024);
      await upload('inputs/report.bin', bytes);
      const rt = await drivenRuntime();
      const staged = await http()
        .post(`/v1/runtimes/${rt.id}/files/stage`)
        .set(auth())
        .send({ storagePath: 'inputs/report.bin' });
      expect(staged.status).toBe(200);
      expect(staged.body.runtimePath).toMatch(/^\/.+\/files\/inputs\/report\.bin$/);
      expect(staged.body.path).toBe('files/inputs/report.bin');

      await rt.page.goto(`${site.url}/upload-page`);
      await rt.page.setInputFiles('#file', staged.body.runtimePath as string);
      await rt.page.waitForFunction(() => document.getElementById('sent')?.textContent === 'received 204800');
      expect(site.uploads.at(-1)).toEqual({ name: 'report.bin', size: bytes.length, sha256: sha256(bytes) });

      const listed = await http().get(`/v1/runtimes/${rt.id}/files?dir=files`).set(auth());
      expect(listed.status).toBe(200);
      expect(listed.body.data).toEqual([
        expect.objectContaining({ path: 'files/inputs/report.bin', size: bytes.length }),
      ]);
      const all = await events(rt.runId, (seen) => seen.some((e) => e.type === 'file.staged'));
      // The run shows the file where the work area has it, never the runtime's absolute (host) path.
      expect(all.find((e) => e.type === 'file.staged')?.data).toEqual({
        storagePath: 'inputs/report.bin',
        path: 'files/inputs/report.bin',
        size: bytes.length,
        sha256: sha256(bytes),
      });
      expect(JSON.stringify(all)).not.toContain(staged.body.runtimePath);
    });

    it('a download on a page becomes a download artifact with the same sha256 and a download.completed event', async () => {
      const rt = await drivenRuntime();
      await rt.page.goto(`${site.url}/download-page`);
      const [download] = await Promise.all([rt.page.waitForEvent('download'), rt.page.click('#get')]);
      expect(download.suggestedFilename()).toBe('quarterly report.bin');

      const all = await events(rt.runId, (seen) => seen.some((e) => e.type === 'download.completed'));
      const completed = all.find((e) => e.type === 'download.completed') as RunEvent;
      expect(completed.data).toMatchObject({
        suggestedFilename: 'quarterly report.bin',
        size: site.download.bytes.length,
        sha256: site.download.sha256,
        url: `${site.url}/file.bin`,
        artifactId: expect.stringMatching(/^art_/),
        // The file in the runtime's downloads/, under the name the site suggested.
        path: 'downloads/quarterly report.bin',
      });
      const listed = await http().get(`/v1/runtimes/${rt.id}/files?dir=downloads`).set(auth());
      expect(listed.body.data).toEqual([
        expect.objectContaining({ path: 'downloads/quarterly report.bin', size: site.download.bytes.length }),
      ]);
      const artifactId = completed.data['artifactId'] as string;
      const artifact = await http().get(`/v1/artifacts/${artifactId}`).set(auth());
      expect(artifact.body).toMatchObject({
        id: artifactId,
        runId: rt.runId,
        spaceId,
        kind: 'download',
        name: 'quarterly report.bin',
        size: site.download.bytes.length,
        sha256: site.download.sha256,
      });
      const content = await fetch(`${platform().url}/v1/artifacts/${artifactId}/content`, { headers: auth() });
      expect(content.status).toBe(200);
      expect(sha256(Buffer.from(await content.arrayBuffer()))).toBe(site.download.sha256);
      const runArtifacts = await http().get(`/v1/runs/${rt.runId}/artifacts`).set(auth());
      expect(runArtifacts.body.data.map((a: { id: string }) => a.id)).toContain(artifactId);
      expect(all.some((e) => e.type === 'artifact.created' && e.data['artifactId'] === artifactId)).toBe(true);

      // The same file again: a name of its own, as Chrome gives it, in the folder, the event and the artifact.
      await Promise.all([rt.page.waitForEvent('download'), rt.page.click('#get')]);
      const again = (await events(rt.runId, (seen) => seen.filter((e) => e.type === 'download.completed').length > 1))
        .filter((e) => e.type === 'download.completed')
        .at(-1) as RunEvent;
      expect(again.data).toMatchObject({
        suggestedFilename: 'quarterly report.bin',
        path: 'downloads/quarterly report (1).bin',
      });
      const second = await http()
        .get(`/v1/artifacts/${again.data['artifactId'] as string}`)
        .set(auth());
      expect(second.body).toMatchObject({ kind: 'download', name: 'quarterly report (1).bin' });
      const both = await http().get(`/v1/runtimes/${rt.id}/files?dir=downloads`).set(auth());
      expect(both.body.data.map((file: { path: string }) => file.path).sort()).toEqual([
        'downloads/quarterly report (1).bin',
        'downloads/quarterly report.bin',
      ]);
    });

    it('collects a runtime file into storage, optionally as an artifact', async () => {
      const bytes = randomBytes(64 * 1024);
      await upload('round/trip.bin', bytes);
      const rt = await drivenRuntime();
      const staged = await http()
        .post(`/v1/runtimes/${rt.id}/files/stage`)
        .set(auth())
        .send({ storagePath: 'round/trip.bin', runtimePath: 'files/work/in.bin' });
      expect(staged.status).toBe(200);
      const collected = await http()
        .post(`/v1/runtimes/${rt.id}/files/collect`)
        .set(auth())
        .send({ runtimePath: staged.body.runtimePath, storagePath: 'round/back.bin', registerArtifact: true });
      expect(collected.status).toBe(200);
      expect(collected.body).toMatchObject({
        storagePath: 'round/back.bin',
        size: bytes.length,
        artifactId: expect.stringMatching(/^art_/),
      });
      const back = await http().get(`/v1/spaces/${spaceId}/storage/round/back.bin`).set(auth()).buffer(true);
      expect(sha256(back.body as Buffer)).toBe(sha256(bytes));
      const artifact = await http().get(`/v1/artifacts/${collected.body.artifactId}`).set(auth());
      expect(artifact.body).toMatchObject({ kind: 'file', name: 'in.bin', sha256: sha256(bytes), runId: rt.runId });
      const plain = await http()
        .post(`/v1/runtimes/${rt.id}/files/collect`)
        .set(auth())
        .send({ runtimePath: 'files/work/in.bin', storagePath: 'round/plain.bin' });
      expect(plain.status).toBe(200);
      expect(plain.body.artifactId).toBeUndefined();
      const all = await events(rt.runId, (seen) => seen.filter((e) => e.type === 'file.collected').length === 2);
      expect(all.filter((e) => e.type === 'file.collected').map((e) => e.data['storagePath'])).toEqual([
        'round/back.bin',
        'round/plain.bin',
      ]);
      // Each stage and collect is a platform action on the run, recorded beside the client's commands; a collect
      // the agent refused is recorded too, failed with the code the API answered.
      const missing = await http()
        .post(`/v1/runtimes/${rt.id}/files/collect`)
        .set(auth())
        .send({ runtimePath: 'files/work/absent.bin', storagePath: 'round/absent.bin' });
      expect(missing.status).toBeGreaterThanOrEqual(400);
      expect(missing.status).toBeLessThan(500);
      const platformCommands = await waitFor('the platform command records', async () => {
        const res = await http().get(`/v1/runs/${rt.runId}/commands?limit=1000`).set(auth());
        const own = (res.body.data as Array<Record<string, unknown>>).filter((c) => c['source'] === 'platform');
        return own.length >= 4 ? own : undefined;
      });
      expect(platformCommands.map((c) => [c['method'], c['ok'], c['errorCode']])).toEqual([
        ['files.stage', true, null],
        ['files.collect', true, null],
        ['files.collect', true, null],
        ['files.collect', false, missing.body.error.code],
      ]);
    });

    it('refuses paths that leave the work area or storage, and hides other spaces’ runtimes', async () => {
      await upload('safe.bin', randomBytes(16));
      const rt = await drivenRuntime();
      const cases: Array<[string, object]> = [
        ['stage', { storagePath: '../escape.bin' }],
        ['stage', { storagePath: '/etc/passwd' }],
        ['stage', { storagePath: 'safe.bin', runtimePath: '../../etc/passwd' }],
        ['stage', { storagePath: 'safe.bin', runtimePath: '/etc/cron.d/x' }],
        ['stage', { storagePath: 'safe.bin', runtimePath: 'files/a\u0000b' }],
        ['collect', { runtimePath: '/etc/passwd', storagePath: 'stolen.txt' }],
        ['collect', { runtimePath: 'files/../../agent.json', storagePath: 'stolen.txt' }],
        ['collect', { runtimePath: 'user-data/Default/Cookies', storagePath: 'stolen.txt' }],
        ['collect', { runtimePath: 'files/x', storagePath: '../../other/x' }],
      ];
      for (const [action, body] of cases) {
        const res = await http().post(`/v1/runtimes/${rt.id}/files/${action}`).set(auth()).send(body);
        expect({ action, body, status: res.status, code: res.body.error?.code }).toEqual({
          action,
          body,
          status: 400,
          code: 'validation_failed',
        });
      }
      expect((await http().get(`/v1/runtimes/${rt.id}/files?dir=../..`).set(auth())).status).toBe(400);
      const missing = await http()
        .post(`/v1/runtimes/${rt.id}/files/stage`)
        .set(auth())
        .send({ storagePath: 'nope.bin' });
      expect(missing.status).toBe(404);

      const other = await http().post('/v1/spaces').set(auth()).send({ name: 'files-other' });
      const limited = await http()
        .post('/v1/api-keys')
        .set(auth())
        .send({ name: 'files-other-member', role: 'member', spaceIds: [other.body.id] });
      const stranger = limited.body.secret as string;
      const stage = await http()
        .post(`/v1/runtimes/${rt.id}/files/stage`)
        .set(auth(stranger))
        .send({ storagePath: 'safe.bin' });
      expect(stage.status).toBe(404);
      expect((await http().get(`/v1/runtimes/${rt.id}/files`).set(auth(stranger))).status).toBe(404);
    });

    it('a run yields a recording artifact, and its recording view replays it with a timeline in a real browser', async () => {
      const rt = await drivenRuntime();
      await rt.page.goto(site.url);
      await rt.page.click('#go');
      await rt.page.goto(`${site.url}/second`);
      await rt.client.close();
      expect((await http().post(`/v1/runtimes/${rt.id}/stop`).set(auth())).body.status).toBe('stopped');

      const artifacts = await waitFor('the run’s artifacts', async () => {
        const res = await http().get(`/v1/runs/${rt.runId}/artifacts`).set(auth());
        return res.body.data?.length ? (res.body.data as Array<Record<string, unknown>>) : undefined;
      });
      const recording = artifacts.find((a) => a['kind'] === 'recording') as Record<string, unknown>;
      expect(recording).toMatchObject({ name: 'recording.ndjson', contentType: 'application/x-ndjson' });
      expect(recording['size']).toBeGreaterThan(1000);
      const run = await waitFor('the run to end', async () => {
        const res = await http().get(`/v1/runs/${rt.runId}`).set(auth());
        return res.body.status === 'ended' ? res.body : undefined;
      });
      // The recording is stored before the browser goes, so the ended run already counts it.
      expect(run.counts.artifacts).toBe(1);

      // A recording-view link shares the run with whoever holds it: a viewer key may not hand one out.
      const viewerKey = await http().post('/v1/api-keys').set(auth()).send({ name: 'replay-viewer', role: 'viewer' });
      const refused = await http()
        .post(`/v1/runs/${rt.runId}/recording-view`)
        .set(auth(viewerKey.body.secret))
        .send({});
      expect(refused.status).toBe(403);
      expect(refused.body.error.code).toBe('forbidden');
      const view = await http().post(`/v1/runs/${rt.runId}/recording-view`).set(auth()).send({});
      expect(view.status).toBe(201);
      expect(view.body.url).toMatch(new RegExp(`^${platform().url}/v1/recording-view/[A-Za-z0-9_-]{43}$`));
      const browser = await launchTestBrowser();
      try {
        const viewer = await browser.newPage();
        await viewer.goto(view.body.url);
        await viewer.waitForSelector('body[data-state="ready"]', { timeout: 20_000 });
        // One timeline mark per document the tab showed (its title names the URL; the first about:blank is there
        // when the recorder was in before it). Seeking to each, the replayer rebuilds that document in its iframe.
        const mark = (path: string) => viewer.locator(`#marks button[title^="${site.url}${path} at "]`);
        const replay = viewer.frameLocator('#stage iframe');
        // It opens on the first page the tab showed, before anything is clicked: not the blank tab it began as.
        await replay.locator('#title', { hasText: 'Hello from the test site' }).waitFor({ timeout: 5_000 });
        expect(await viewer.getAttribute('body', 'data-playing')).toBe('false');
        await mark('/second').click();
        await replay.locator('#second', { hasText: 'second page' }).waitFor();
        await mark('/').click();
        await replay.locator('#title', { hasText: 'Hello from the test site' }).waitFor();
      } finally {
        await browser.close();
      }
      expect((await fetch(`${platform().url}/v1/recording-view/${'A'.repeat(43)}`)).status).toBe(404);
    });
  });
}
