import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { FsObjectStore } from './fs-object-store';
import { ObjectTooLargeError } from './object-store';
import { describeObjectStoreConformance } from './object-store.conformance';

describe('FsObjectStore', () => {
  let root: string;
  describeObjectStoreConformance(async () => {
    root = await mkdtemp(join(tmpdir(), 'bctrl-fs-store-'));
    return { store: new FsObjectStore(root), close: () => rm(root, { recursive: true, force: true }) };
  });

  it('leaves no temp file behind after a refused upload', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bctrl-fs-store-'));
    try {
      const store = new FsObjectStore(dir);
      await expect(
        store.put('spaces/s/storage/x', Readable.from([Buffer.alloc(100), Buffer.alloc(100)]), { maxBytes: 150 }),
      ).rejects.toBeInstanceOf(ObjectTooLargeError);
      expect(await readdir(join(dir, '.tmp'))).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
