import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { SpacesV1 } from '@bctrl/contracts';
import { BctrlError, type KeyPrincipal, newId } from '@bctrl/core';
import { migrateService } from '@bctrl/db';
import { PlatformModule } from '@bctrl/service';
import { captureMetrics, type MetricsCapture } from '@bctrl/telemetry/testing';
import { createTestDatabase, waitFor } from '@bctrl/testing';
import { InProcessTransport } from '@bctrl/transport';
import { FsObjectStore } from '../object-store/fs-object-store';
import { StorageModule } from '../storage.module';
import { LocalStorageDataPlane } from './local-data-plane';

jest.setTimeout(60_000);

/** This process's open files under `dir`, from /proc: what a stream left open shows here. */
function openFilesUnder(dir: string): string[] {
  return readdirSync('/proc/self/fd').flatMap((fd) => {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      return target.startsWith(dir) ? [target] : [];
    } catch {
      return [];
    }
  });
}

/** bctrl.storage.bytes from the data plane, over real Postgres and files. */
describe('storage data plane metrics', () => {
  let metrics: MetricsCapture;
  let app: INestApplicationContext;
  let plane: LocalStorageDataPlane;
  let root: string;
  const accountId = newId('account');
  const spaceId = newId('space');
  const key: KeyPrincipal = { kind: 'key', accountId, subaccountId: null, spaceIds: null, role: 'admin', keyId: 'k' };

  beforeAll(async () => {
    metrics = captureMetrics('storage');
    const databaseUrl = await createTestDatabase(process.env.BCTRL_TEST_DATABASE_URL as string, 'storage_plane_spec');
    await migrateService(databaseUrl, 'storage', { workspaceRoot: join(__dirname, '../../../..') });
    root = mkdtempSync(join(tmpdir(), 'bctrl-plane-spec-'));
    const transport = new InProcessTransport();
    // The spaces service's side of the contract storage relies on: this account's one space exists.
    transport.serve(SpacesV1.getSpace, (request) =>
      request.spaceId === spaceId
        ? Promise.resolve({ id: spaceId, accountId, subaccountId: '', name: 'plane' })
        : Promise.reject(BctrlError.notFound('space')),
    );
    const moduleRef = await Test.createTestingModule({
      imports: [
        PlatformModule.forRoot({ services: ['storage'], transport }),
        StorageModule.forRoot({ databaseUrl, objectStore: new FsObjectStore(root), maxObjectBytes: 1024 * 1024 }),
      ],
    }).compile();
    app = await moduleRef.init();
    plane = app.get(LocalStorageDataPlane);
  });

  afterAll(async () => {
    await app?.close();
    await metrics.stop();
    rmSync(root, { recursive: true, force: true });
  });

  const bytes = async () =>
    Object.fromEntries(
      (await metrics.points('bctrl.storage.bytes')).map((point) => [point.attributes['direction'], point.value]),
    );
  const put = (path: string, data: Buffer) =>
    plane.putObject(key, { spaceId, path, contentType: '', contentLength: data.length, body: Readable.from([data]) });

  it('counts stored bytes in, and bytes read out as the reader consumes them, ranges included', async () => {
    const before = await bytes();
    const data = randomBytes(200_000);
    await put('a.bin', data);
    const whole = await plane.readObject(key, { spaceId, path: 'a.bin' });
    const chunks: Buffer[] = [];
    for await (const chunk of whole.body as Readable) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
    const range = await plane.readObject(key, { spaceId, path: 'a.bin', range: 'bytes=0-999' });
    for await (const chunk of range.body as Readable) void chunk;
    const after = await bytes();
    expect((after['in'] ?? 0) - (before['in'] ?? 0)).toBe(200_000);
    expect((after['out'] ?? 0) - (before['out'] ?? 0)).toBe(201_000);
  });

  it('counts only what an abandoned download read, and releases the store file with it', async () => {
    await put('b.bin', randomBytes(500_000));
    const before = (await bytes())['out'] ?? 0;
    const read = await plane.readObject(key, { spaceId, path: 'b.bin' });
    const body = read.body as Readable;
    const first = await new Promise<Buffer>((resolve) => body.once('data', resolve));
    expect(openFilesUnder(root)).toHaveLength(1);
    body.destroy();
    await waitFor('the store file to close', () => (openFilesUnder(root).length === 0 ? true : undefined), 5_000);
    const counted = ((await bytes())['out'] ?? 0) - before;
    expect(counted).toBeGreaterThanOrEqual(first.length);
    expect(counted).toBeLessThan(500_000);
  });
});
