import { createHash, randomBytes } from 'node:crypto';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import request from 'supertest';
import { StorageV1 } from '@bctrl/contracts';
import { sleep } from '@bctrl/testing';
import { adminAccountId, type Platform } from './platform';

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/**
 * A request sent as written: no client-side URL normalisation (`..`, `%2e%2e`), any body stream, chunked when no
 * length is given. An answer that arrives while the body is still being sent is kept even if the socket then closes.
 */
function raw(
  base: string,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: Buffer | Readable,
): Promise<RawAnswer> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = httpRequest({ host: url.hostname, port: url.port, method, path, headers }, (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', (error) => {
      if (!answered) reject(error);
    });
    if (body instanceof Readable) {
      body.on('error', () => req.destroy());
      body.pipe(req);
    } else req.end(body);
  });
}

/** Space storage and artifacts through the public API, written once and run against each way of running. */
export function defineStorageSuite(platform: () => Platform) {
  const http = () => request(platform().url);
  const auth = (key = platform().adminKey) => ({ Authorization: `Bearer ${key}` });
  const envelope = (res: { body: Buffer | Record<string, unknown> }) =>
    (Buffer.isBuffer(res.body) ? JSON.parse(res.body.toString('utf8')) : res.body) as {
      error: { code: string; details: Array<{ field?: string; issue: string }> };
    };

  describe('space storage and artifacts', () => {
    let spaceA: string;
    let spaceB: string;
    let keyB: string;
    const base = () => `/v1/spaces/${spaceA}/storage`;

    beforeAll(async () => {
      spaceA = (await http().post('/v1/spaces').set(auth()).send({ name: 'storage-a' })).body.id;
      spaceB = (await http().post('/v1/spaces').set(auth()).send({ name: 'storage-b' })).body.id;
      keyB = (
        await http()
          .post('/v1/api-keys')
          .set(auth())
          .send({ name: 'space-b-only', role: 'member', spaceIds: [spaceB] })
      ).body.secret;
    });

    it('round-trips an object: PUT, HEAD, GET, list with identical size and sha256, then DELETE', async () => {
      const data = randomBytes(3 * 1024 * 1024 + 17);
      const put = await raw(
        platform().url,
        'PUT',
        `${base()}/docs/2026/report.bin`,
        { ...auth(), 'content-type': 'application/x-report' },
        data,
      );
      expect(put.status).toBe(200);
      const stored = JSON.parse(put.body.toString('utf8'));
      expect(stored).toEqual({
        path: 'docs/2026/report.bin',
        size: data.length,
        sha256: sha256(data),
        contentType: 'application/x-report',
        updatedAt: expect.any(String),
      });

      const head = await raw(platform().url, 'HEAD', `${base()}/docs/2026/report.bin`, auth());
      expect(head.status).toBe(200);
      expect(head.headers['content-length']).toBe(String(data.length));
      expect(head.headers['content-type']).toBe('application/x-report');
      expect(head.headers['etag']).toBe(`"${sha256(data)}"`);
      expect(head.headers['accept-ranges']).toBe('bytes');

      const got = await raw(platform().url, 'GET', `${base()}/docs/2026/report.bin`, auth());
      expect(got.status).toBe(200);
      expect(got.body.length).toBe(data.length);
      expect(sha256(got.body)).toBe(sha256(data));

      // A chunked upload (no Content-Length) of a JSON body: stored as bytes, not parsed.
      const json = Buffer.from('{"not": "parsed"}');
      const chunked = await raw(
        platform().url,
        'PUT',
        `${base()}/docs/config.json`,
        { ...auth(), 'content-type': 'application/json' },
        Readable.from([json.subarray(0, 5), json.subarray(5)]),
      );
      expect(chunked.status).toBe(200);
      expect(JSON.parse(chunked.body.toString()).sha256).toBe(sha256(json));
      await raw(platform().url, 'PUT', `${base()}/top.txt`, auth(), Buffer.from('top'));

      const list = await http().get(`${base()}?prefix=docs/`).set(auth());
      expect(list.status).toBe(200);
      expect(list.body.data.map((o: { path: string }) => o.path)).toEqual(['docs/2026/report.bin', 'docs/config.json']);
      expect(list.body.data[0]).toMatchObject({ size: data.length, sha256: sha256(data) });
      const first = await http().get(`${base()}?limit=1`).set(auth());
      expect(first.body.data.map((o: { path: string }) => o.path)).toEqual(['docs/2026/report.bin']);
      const second = await http().get(`${base()}?limit=5&cursor=${first.body.nextCursor}`).set(auth());
      expect(second.body.data.map((o: { path: string }) => o.path)).toEqual(['docs/config.json', 'top.txt']);
      expect(second.body.nextCursor).toBeNull();

      expect((await http().delete(`${base()}/docs/config.json`).set(auth())).status).toBe(204);
      expect((await http().get(`${base()}/docs/config.json`).set(auth())).status).toBe(404);
      expect((await http().delete(`${base()}/docs/config.json`).set(auth())).status).toBe(404);
      const after = await http().get(`${base()}?prefix=docs/`).set(auth());
      expect(after.body.data.map((o: { path: string }) => o.path)).toEqual(['docs/2026/report.bin']);
    });

    it('serves byte ranges (206) and refuses one past the end (416 with the size)', async () => {
      const data = randomBytes(10_000);
      await raw(platform().url, 'PUT', `${base()}/ranges.bin`, auth(), data);
      const part = await raw(platform().url, 'GET', `${base()}/ranges.bin`, { ...auth(), range: 'bytes=100-1099' });
      expect(part.status).toBe(206);
      expect(part.headers['content-range']).toBe('bytes 100-1099/10000');
      expect(part.headers['content-length']).toBe('1000');
      expect(part.body).toEqual(data.subarray(100, 1100));
      const tail = await raw(platform().url, 'GET', `${base()}/ranges.bin`, { ...auth(), range: 'bytes=-10' });
      expect(tail.status).toBe(206);
      expect(tail.body).toEqual(data.subarray(9_990));
      const beyond = await raw(platform().url, 'GET', `${base()}/ranges.bin`, { ...auth(), range: 'bytes=10000-' });
      expect(beyond.status).toBe(416);
      expect(beyond.headers['content-range']).toBe('bytes */10000');
      expect(envelope(beyond).error.code).toBe('range_not_satisfiable');
    });

    it('refuses a body over the size limit with 413, declared or chunked, and stores nothing', async () => {
      const limit = 32 * 1024 * 1024;
      const declared = await raw(platform().url, 'PUT', `${base()}/big.bin`, {
        ...auth(),
        'content-length': String(limit + 1),
      });
      expect(declared.status).toBe(413);
      expect(envelope(declared).error.code).toBe('payload_too_large');

      let sent = 0;
      const endless = new Readable({
        read() {
          // Far more than the limit: the gateway must stop reading long before the end.
          if (sent >= 4 * limit) return void this.push(null);
          sent += 1024 * 1024;
          this.push(Buffer.alloc(1024 * 1024, 7));
        },
      });
      const chunked = await raw(platform().url, 'PUT', `${base()}/big.bin`, auth(), endless);
      expect(chunked.status).toBe(413);
      expect(envelope(chunked).error.code).toBe('payload_too_large');
      expect(sent).toBeLessThan(4 * limit);
      expect((await raw(platform().url, 'HEAD', `${base()}/big.bin`, auth())).status).toBe(404);
    });

    it.each([
      ['../../etc/passwd', '../../etc/passwd', '`..`'],
      ['docs/../../../etc/passwd', 'docs/../../../etc/passwd', '`..`'],
      ['%2e%2e/%2e%2e/etc/passwd', '%2e%2e/%2e%2e/etc/passwd', '`..`'],
      ['..%2F..%2Fescape', '..%2F..%2Fescape', '`..`'],
      ['a/./b', 'a/./b', '`..`'],
      ['/etc/passwd', '/etc/passwd', 'relative'],
      ['a//b', 'a//b', 'empty segments'],
      ['a%00b', 'a%00b', 'NUL'],
      ['a%0Ab', 'a%0Ab', 'control characters'],
      ['a%5Cb', 'a%5Cb', 'separator'],
      ['a 241-byte segment', 'x'.repeat(241), 'segments of at most 240 bytes'],
      ['a 1100-byte path', Array.from({ length: 6 }, () => 'y'.repeat(200)).join('/'), 'at most 1024 bytes'],
    ])('refuses the path %s with 400 validation_failed naming it', async (_label, path, issue) => {
      for (const method of ['PUT', 'GET']) {
        const answer = await raw(
          platform().url,
          method,
          `${base()}/${path}`,
          auth(),
          method === 'PUT' ? Buffer.from('x') : undefined,
        );
        expect(answer.status).toBe(400);
        const body = envelope(answer);
        expect(body.error.code).toBe('validation_failed');
        expect(body.error.details[0]).toEqual({ field: 'path', issue: expect.stringContaining(issue) });
      }
    });

    it('answers a path that is not valid percent-encoding with 400 in the envelope', async () => {
      const answer = await raw(platform().url, 'PUT', `${base()}/a%zzb`, auth(), Buffer.from('x'));
      expect(answer.status).toBe(400);
      const body = envelope(answer) as { error: { code: string; requestId?: string } };
      expect(body.error.code).toBe('validation_failed');
      expect(body.error.requestId).toBe(answer.headers['x-request-id']);
    });

    it("answers 404 to another space's key for objects, their list and uploads into them", async () => {
      await raw(platform().url, 'PUT', `${base()}/private.txt`, auth(), Buffer.from('secret bytes'));
      for (const method of ['GET', 'HEAD', 'DELETE']) {
        expect((await raw(platform().url, method, `${base()}/private.txt`, auth(keyB))).status).toBe(404);
      }
      expect((await http().get(base()).set(auth(keyB))).status).toBe(404);
      expect((await raw(platform().url, 'PUT', `${base()}/planted.txt`, auth(keyB), Buffer.from('x'))).status).toBe(
        404,
      );
      expect((await raw(platform().url, 'GET', `${base()}/private.txt`, auth())).body.toString()).toBe('secret bytes');
      // The key works in its own space.
      const own = await raw(
        platform().url,
        'PUT',
        `/v1/spaces/${spaceB}/storage/mine.txt`,
        auth(keyB),
        Buffer.from('b'),
      );
      expect(own.status).toBe(200);
    });

    describe('artifacts', () => {
      let source: Server;
      let sourceUrl: string;
      const content = randomBytes(700_000);
      let runtimeId: string;
      let runId: string;
      let artifactId: string;

      beforeAll(async () => {
        // Stands in for a runtime agent's file endpoint: answers only with the bearer token it was given.
        source = createServer((req, res) => {
          if (req.headers.authorization !== 'Bearer agent-token') return void res.writeHead(401).end();
          res.writeHead(200, { 'content-type': 'application/pdf', 'content-length': content.length });
          res.end(content);
        });
        await new Promise<void>((resolve) => source.listen(0, '127.0.0.1', resolve));
        sourceUrl = `http://127.0.0.1:${(source.address() as AddressInfo).port}/files/invoice.pdf`;
        const rt = await http()
          .post(`/v1/spaces/${spaceA}/runtimes?wait=true`)
          .set(auth())
          .send({ type: 'browser', timeoutSeconds: 120 });
        runtimeId = rt.body.id;
        runId = rt.body.activeRunId;
      });

      afterAll(async () => {
        if (runtimeId) await http().post(`/v1/runtimes/${runtimeId}/stop`).set(auth());
        await new Promise((resolve) => source?.close(resolve));
      });

      it('imports an artifact from a URL (streamed into the store), lists it on its run and announces it', async () => {
        const accountId = await adminAccountId(platform());
        const artifact = await platform().operator(StorageV1.importArtifact, {
          runId,
          runtimeId,
          spaceId: spaceA,
          accountId,
          kind: 'download',
          name: 'invoice.pdf',
          source: { url: sourceUrl, headers: { authorization: 'Bearer agent-token' } },
        });
        artifactId = artifact.id;
        expect(artifact).toMatchObject({ kind: 'download', name: 'invoice.pdf', contentType: 'application/pdf' });
        expect(artifact.sha256).toBe(sha256(content));

        // Imports with one caller-chosen id, racing or retried, store and announce it once.
        const chosen = 'art_' + 'R'.repeat(24);
        const spec = {
          runId,
          runtimeId,
          spaceId: spaceA,
          accountId,
          kind: 'file',
          name: 'retried.pdf',
          artifactId: chosen,
          source: { url: sourceUrl, headers: { authorization: 'Bearer agent-token' } },
        };
        const [once, raced] = await Promise.all([
          platform().operator(StorageV1.importArtifact, spec),
          platform().operator(StorageV1.importArtifact, spec),
        ]);
        const twice = await platform().operator(StorageV1.importArtifact, spec);
        expect([once.id, raced.id, twice.id]).toEqual([chosen, chosen, chosen]);
        expect([raced.createdAt, twice.createdAt]).toEqual([once.createdAt, once.createdAt]);

        const got = await http().get(`/v1/artifacts/${artifactId}`).set(auth());
        expect(got.status).toBe(200);
        expect(got.body).toEqual({
          id: artifactId,
          runId,
          spaceId: spaceA,
          kind: 'download',
          name: 'invoice.pdf',
          contentType: 'application/pdf',
          size: content.length,
          sha256: sha256(content),
          createdAt: expect.any(String),
        });
        const list = await http().get(`/v1/runs/${runId}/artifacts`).set(auth());
        expect(list.status).toBe(200);
        expect(list.body.data.map((a: { id: string }) => a.id)).toEqual([chosen, artifactId]);

        const deadline = Date.now() + 15_000;
        for (;;) {
          const events = await http().get(`/v1/runs/${runId}/events?limit=1000`).set(auth());
          const created = events.body.data.filter((e: { type: string }) => e.type === 'artifact.created');
          if (created.length >= 2) {
            expect(created.map((e: { data: { artifactId: string } }) => e.data.artifactId)).toEqual([
              artifactId,
              chosen,
            ]);
            expect(created[0].data).toMatchObject({ artifactId, kind: 'download', sha256: sha256(content) });
            expect((await http().get(`/v1/runs/${runId}`).set(auth())).body.counts.artifacts).toBe(2);
            break;
          }
          if (Date.now() > deadline) throw new Error('no artifact.created event');
          await sleep(100);
        }
      });

      it('refuses an import from a source that does not answer 2xx, and from a tenant', async () => {
        await expect(
          platform().operator(StorageV1.importArtifact, {
            runId,
            runtimeId,
            spaceId: spaceA,
            accountId: 'acc_000000000000000000000000',
            kind: 'download',
            name: 'x',
            source: { url: sourceUrl, headers: {} },
          }),
        ).rejects.toMatchObject({ code: 'unavailable' });
        await expect(
          platform().operator(StorageV1.importArtifact, {
            runId,
            spaceId: spaceA,
            accountId: 'acc_000000000000000000000000',
            kind: 'video',
            name: '',
            source: { url: 'file:///etc/passwd', headers: {} },
          }),
        ).rejects.toMatchObject({ code: 'validation_failed' });
      });

      it(`serves the content with the same sha256: streamed, or a 302 to a presigned URL when the operator chose that`, async () => {
        const answer = await raw(platform().url, 'GET', `/v1/artifacts/${artifactId}/content`, auth());
        let body: Buffer;
        if (platform().artifactContentRedirect) {
          expect(answer.status).toBe(302);
          const location = String(answer.headers['location']);
          expect(location).toMatch(/^http.*X-Amz-Signature=/);
          const fetched = await fetch(location);
          expect(fetched.status).toBe(200);
          body = Buffer.from(await fetched.arrayBuffer());
        } else {
          expect(answer.status).toBe(200);
          expect(answer.headers['content-type']).toBe('application/pdf');
          expect(answer.headers['content-disposition']).toContain('filename="invoice.pdf"');
          body = answer.body;
          const part = await raw(platform().url, 'GET', `/v1/artifacts/${artifactId}/content`, {
            ...auth(),
            range: 'bytes=0-99',
          });
          expect(part.status).toBe(206);
          expect(part.body).toEqual(content.subarray(0, 100));
        }
        expect(sha256(body)).toBe(sha256(content));
      });

      it('deleting a space purges its objects and artifacts, rows and bytes', async () => {
        const doomed = (await http().post('/v1/spaces').set(auth()).send({ name: 'doomed' })).body.id as string;
        const put = await http()
          .put(`/v1/spaces/${doomed}/storage/keep/me.bin`)
          .set(auth())
          .set('content-type', 'application/octet-stream')
          .send(randomBytes(4096));
        expect(put.status).toBe(200);
        const accountId = await adminAccountId(platform());
        const artifact = await platform().operator(StorageV1.importArtifact, {
          runId,
          runtimeId,
          spaceId: doomed,
          accountId,
          kind: 'file',
          name: 'doomed.pdf',
          source: { url: sourceUrl, headers: { authorization: 'Bearer agent-token' } },
        });
        const keys = async () => (await platform().objectStore.list(`spaces/${doomed}/`)).objects.map((o) => o.key);
        // The object's bytes are under its upload's version, the artifact's under its id.
        expect((await keys()).sort()).toEqual([
          `spaces/${doomed}/artifacts/${artifact.id}/doomed.pdf`,
          expect.stringMatching(new RegExp(`^spaces/${doomed}/objects/[A-Za-z0-9_-]{22}$`)),
        ]);

        expect((await http().delete(`/v1/spaces/${doomed}`).set(auth())).status).toBe(200);
        expect(await keys()).toEqual([]);
        expect((await http().get(`/v1/artifacts/${artifact.id}`).set(auth())).status).toBe(404);
      });

      it("answers 404 to another space's key for the artifact, its content and the run's list", async () => {
        expect((await http().get(`/v1/artifacts/${artifactId}`).set(auth(keyB))).status).toBe(404);
        expect((await raw(platform().url, 'GET', `/v1/artifacts/${artifactId}/content`, auth(keyB))).status).toBe(404);
        expect((await http().get(`/v1/runs/${runId}/artifacts`).set(auth(keyB))).status).toBe(404);
        expect((await http().get('/v1/artifacts/art_000000000000000000000000').set(auth())).status).toBe(404);
        expect((await http().get('/v1/artifacts/not-an-id').set(auth())).status).toBe(404);
      });
    });
  });
}
