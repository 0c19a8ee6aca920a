import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { create } from '@bufbuild/protobuf';
import { INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { SpacesV1, storageV1 } from '@bctrl/contracts';
import { BctrlError, type KeyPrincipal, newId } from '@bctrl/core';
import { migrateService } from '@bctrl/db';
import { PlatformModule } from '@bctrl/service';
import { createTestDatabase } from '@bctrl/testing';
import { InProcessTransport } from '@bctrl/transport';
import { FsObjectStore } from '../object-store/fs-object-store';
import type { GetOptions, PutOptions } from '../object-store/object-store';
import { StorageModule } from '../storage.module';
import { ObjectsService } from './objects.service';

jest.setTimeout(60_000);

const adminUrl = process.env.BCTRL_TEST_DATABASE_URL;
if (!adminUrl)
  throw new Error('BCTRL_TEST_DATABASE_URL is unset: run through jest, whose global setup starts Postgres');
const workspaceRoot = join(__dirname, '../../../..');

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** Something the test holds a store call at, and lets go of. */
class Gate {
  private open!: () => void;
  private reachedResolve!: () => void;
  readonly reached = new Promise<void>((resolve) => (this.reachedResolve = resolve));
  private readonly opened = new Promise<void>((resolve) => (this.open = resolve));

  async pass(): Promise<void> {
    this.reachedResolve();
    await this.opened;
  }

  release(): void {
    this.open();
  }
}

/**
 * The filesystem store, with a hook to hold the next put once its bytes have landed (before storage writes the row)
 * or the next get before it opens the bytes: how a test makes uploads, deletes and reads interleave in the worst
 * order, which real traffic reaches only by chance.
 */
class GatedStore extends FsObjectStore {
  afterPut: Gate | null = null;
  beforeGet: Gate | null = null;

  override async put(key: string, body: Readable, options?: PutOptions) {
    const result = await super.put(key, body, options);
    const gate = this.afterPut;
    this.afterPut = null;
    await gate?.pass();
    return result;
  }

  override async get(key: string, options?: GetOptions) {
    const gate = this.beforeGet;
    this.beforeGet = null;
    await gate?.pass();
    return super.get(key, options);
  }
}

describe('space objects under racing uploads, deletes and reads (storage service, real Postgres and files)', () => {
  let app: INestApplicationContext;
  let objects: ObjectsService;
  let store: GatedStore;
  let root: string;
  const accountId = newId('account');
  const spaceId = newId('space');
  const key: KeyPrincipal = { kind: 'key', accountId, subaccountId: null, spaceIds: null, role: 'admin', keyId: 'k' };

  beforeAll(async () => {
    const databaseUrl = await createTestDatabase(adminUrl as string, 'storage_objects_spec');
    await migrateService(databaseUrl, 'storage', { workspaceRoot });
    root = mkdtempSync(join(tmpdir(), 'bctrl-objects-spec-'));
    store = new GatedStore(root);
    const transport = new InProcessTransport();
    // The spaces service's side of the contract storage relies on: this account's one space exists.
    transport.serve(SpacesV1.getSpace, (request) => {
      if (request.spaceId !== spaceId) throw BctrlError.notFound('space');
      return { id: spaceId, accountId, subaccountId: '', name: 'objects' };
    });
    const moduleRef = await Test.createTestingModule({
      imports: [
        PlatformModule.forRoot({ services: ['storage'], transport }),
        StorageModule.forRoot({ databaseUrl, objectStore: store, maxObjectBytes: 64 * 1024 * 1024 }),
      ],
    }).compile();
    app = await moduleRef.init();
    objects = app.get(ObjectsService);
  });

  afterAll(async () => {
    await app?.close();
    rmSync(root, { recursive: true, force: true });
  });

  const put = (path: string, data: Buffer, contentLength: number | null = data.length) =>
    objects.put(key, { spaceId, path, contentType: '', contentLength, body: Readable.from([data]) });

  /** What a reader gets: the row's account of the object, and the bytes actually served. */
  async function read(path: string) {
    const got = await objects.read(key, { spaceId, path });
    const chunks: Buffer[] = [];
    for await (const chunk of got.body as Readable) chunks.push(chunk as Buffer);
    return { meta: got.meta, bytes: Buffer.concat(chunks) };
  }

  const remove = (path: string) => objects.delete(key, create(storageV1.DeleteObjectRequestSchema, { spaceId, path }));

  const keys = async () => (await store.list(`spaces/${spaceId}/`)).objects.map((o) => o.key);

  it('two uploads racing on one path: the row describes exactly the bytes served, and the loser leaves no bytes', async () => {
    const first = randomBytes(200_000);
    const second = randomBytes(150_000);
    const held = new Gate();
    store.afterPut = held;
    // The first upload's bytes land, then it stalls before its row; the second runs start to finish meanwhile.
    const slow = put('race/a.bin', first);
    await held.reached;
    expect((await put('race/a.bin', second)).sha256).toBe(sha256(second));
    held.release();
    expect((await slow).sha256).toBe(sha256(first));

    const served = await read('race/a.bin');
    expect(served.meta).toMatchObject({ size: first.length, sha256: sha256(first) });
    expect(sha256(served.bytes)).toBe(served.meta.sha256);
    expect(await keys()).toHaveLength(1);
  });

  it('a delete racing an upload: the upload that lands after it stays whole, bytes and row', async () => {
    await put('race/b.bin', randomBytes(1000));
    const next = randomBytes(50_000);
    const held = new Gate();
    store.afterPut = held;
    const upload = put('race/b.bin', next);
    await held.reached;
    await remove('race/b.bin');
    held.release();
    await upload;

    const served = await read('race/b.bin');
    expect(served.meta.sha256).toBe(sha256(next));
    expect(sha256(served.bytes)).toBe(sha256(next));
    expect((await keys()).length).toBe(2);
    await remove('race/b.bin');
    await remove('race/a.bin');
    expect(await keys()).toEqual([]);
  });

  it('a reader whose bytes were replaced between its row and its read gets the newer object, whole', async () => {
    await put('race/c.bin', randomBytes(10_000));
    const newer = randomBytes(20_000);
    const held = new Gate();
    store.beforeGet = held;
    const reading = read('race/c.bin');
    await held.reached;
    await put('race/c.bin', newer);
    held.release();
    const served = await reading;
    expect(served.meta).toMatchObject({ size: newer.length, sha256: sha256(newer) });
    expect(sha256(served.bytes)).toBe(sha256(newer));
  });

  it('an upload refused after its bytes arrived (Content-Length mismatch) leaves the object as it was and no bytes', async () => {
    const original = randomBytes(5_000);
    await put('race/d.bin', original);
    const before = await keys();
    await expect(put('race/d.bin', randomBytes(3_000), 4_000)).rejects.toMatchObject({ code: 'validation_failed' });
    const served = await read('race/d.bin');
    expect(served.meta.sha256).toBe(sha256(original));
    expect(sha256(served.bytes)).toBe(sha256(original));
    expect(await keys()).toEqual(before);
  });
});
