import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { InvalidKeyError, type ObjectStore, ObjectTooLargeError, RangeNotSatisfiableError } from './object-store';

const MIB = 1024 * 1024;

async function readAll(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** `total` bytes made on the fly from a seeded block, so a large body never exists in memory at once. */
export function generatedStream(total: number, seed = 1): { stream: Readable; sha256: () => string } {
  const block = createHash('sha512').update(String(seed)).digest();
  const chunk = Buffer.alloc(256 * 1024);
  for (let i = 0; i < chunk.length; i += block.length) block.copy(chunk, i);
  const hash = createHash('sha256');
  let sent = 0;
  const stream = new Readable({
    read() {
      if (sent >= total) return void this.push(null);
      const piece = chunk.subarray(0, Math.min(chunk.length, total - sent));
      // Each chunk differs from the last, so a store that dropped or repeated one would change the hash.
      piece.writeUInt32BE(sent / chunk.length, 0);
      sent += piece.length;
      hash.update(piece);
      this.push(Buffer.from(piece));
    },
  });
  return { stream, sha256: () => hash.digest('hex') };
}

/** A read the test expects to exist. */
function must<T>(value: T | null | undefined): T {
  if (value === null || value === undefined) throw new Error('expected the object to exist');
  return value;
}

const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** What every ObjectStore must do, run against each adapter with a fresh, empty store. */
export function describeObjectStoreConformance(create: () => Promise<{ store: ObjectStore; close(): Promise<void> }>) {
  let store: ObjectStore;
  let close: () => Promise<void>;
  const prefix = () => `spaces/spc_${randomBytes(6).toString('hex')}/storage/`;

  beforeAll(async () => {
    ({ store, close } = await create());
  });

  afterAll(async () => {
    await close?.();
  });

  it('stores a stream and reads back the same bytes, with size and sha256 computed on the way in', async () => {
    const key = `${prefix()}docs/hello.txt`;
    const data = Buffer.from('hello, object store\n');
    const put = await store.put(key, Readable.from([data]), { contentType: 'text/plain' });
    expect(put).toEqual({ size: data.length, sha256: sha(data) });
    const read = await store.get(key);
    expect(read?.size).toBe(data.length);
    expect(read?.range).toBeNull();
    expect(await readAll(must(read).body)).toEqual(data);
    expect(await store.head(key)).toEqual({ size: data.length });
  });

  it('streams a large body in many chunks (multipart on S3) with the hash of every byte', async () => {
    const key = `${prefix()}big.bin`;
    const source = generatedStream(23 * MIB + 12345, 7);
    const put = await store.put(key, source.stream);
    expect(put).toEqual({ size: 23 * MIB + 12345, sha256: source.sha256() });
    const read = await store.get(key);
    const hash = createHash('sha256');
    for await (const chunk of must(read).body) hash.update(chunk as Buffer);
    expect(hash.digest('hex')).toBe(put.sha256);
  }, 60_000);

  it('stores an empty object', async () => {
    const key = `${prefix()}empty`;
    expect(await store.put(key, Readable.from([]))).toEqual({ size: 0, sha256: sha(Buffer.alloc(0)) });
    expect(await readAll(must(await store.get(key)).body)).toEqual(Buffer.alloc(0));
  });

  it('reads a byte range, and refuses one past the end', async () => {
    const key = `${prefix()}range.bin`;
    const data = randomBytes(10_000);
    await store.put(key, Readable.from([data]));
    const read = await store.get(key, { range: { start: 100, end: 1099 } });
    expect(read?.size).toBe(10_000);
    expect(read?.range).toEqual({ start: 100, end: 1099 });
    expect(await readAll(must(read).body)).toEqual(data.subarray(100, 1100));
    const tail = await store.get(key, { range: { start: 9_990, end: 9_999 } });
    expect(await readAll(must(tail).body)).toEqual(data.subarray(9_990));
    await expect(store.get(key, { range: { start: 10_000, end: 10_010 } })).rejects.toBeInstanceOf(
      RangeNotSatisfiableError,
    );
  });

  it('replaces an object whole, and keeps the old one when a replacement fails midway', async () => {
    const key = `${prefix()}replaced`;
    await store.put(key, Readable.from([Buffer.from('first')]));
    await store.put(key, Readable.from([Buffer.from('second version')]));
    expect((await readAll(must(await store.get(key)).body)).toString()).toBe('second version');
    const failing = new Readable({
      read() {
        this.push(Buffer.alloc(1024, 1));
        this.destroy(new Error('client went away'));
      },
    });
    await expect(store.put(key, failing)).rejects.toThrow('client went away');
    expect((await readAll(must(await store.get(key)).body)).toString()).toBe('second version');
  });

  it('stops at maxBytes: the upload is refused and nothing is stored', async () => {
    const key = `${prefix()}too-big`;
    const source = generatedStream(6 * MIB, 3);
    await expect(store.put(key, source.stream, { maxBytes: 5 * MIB })).rejects.toBeInstanceOf(ObjectTooLargeError);
    expect(await store.head(key)).toBeNull();
    expect(await store.get(key)).toBeNull();
    const exact = await store.put(key, generatedStream(1000, 3).stream, { maxBytes: 1000 });
    expect(exact.size).toBe(1000);
  }, 30_000);

  it('answers null for a missing object, and deletes idempotently', async () => {
    const key = `${prefix()}gone`;
    expect(await store.get(key)).toBeNull();
    expect(await store.head(key)).toBeNull();
    await store.put(key, Readable.from([Buffer.from('x')]));
    await store.delete(key);
    await store.delete(key);
    expect(await store.head(key)).toBeNull();
  });

  it('lists by prefix in key order, page by page, with an object and a "directory" of the same name', async () => {
    const base = prefix();
    const keys = ['a', 'a/b', 'a/c/d', 'b.txt', 'c'].map((k) => base + k);
    for (const key of keys) await store.put(key, Readable.from([Buffer.from(key)]));
    await store.put(`${base.replace(/storage\/$/, 'artifacts/')}x`, Readable.from([Buffer.from('other')]));
    const first = await store.list(base, { limit: 3 });
    expect(first.objects.map((o) => o.key)).toEqual(keys.slice(0, 3));
    expect(first.objects[0]?.size).toBe(Buffer.byteLength(keys[0] as string));
    const second = await store.list(base, { limit: 3, startAfter: first.nextStartAfter ?? undefined });
    expect(second.objects.map((o) => o.key)).toEqual(keys.slice(3));
    expect(second.nextStartAfter).toBeNull();
    expect((await store.list(`${base}a/`)).objects.map((o) => o.key)).toEqual([base + 'a/b', base + 'a/c/d']);
    expect((await readAll(must(await store.get(base + 'a')).body)).toString()).toBe(base + 'a');
  });

  it('refuses keys that are not plain relative paths', async () => {
    for (const key of ['../escape', 'spaces/../../etc/passwd', '/abs/key', 'a//b', 'a/./b', '']) {
      await expect(store.put(key, Readable.from([Buffer.from('x')]))).rejects.toBeInstanceOf(InvalidKeyError);
      await expect(store.get(key)).rejects.toBeInstanceOf(InvalidKeyError);
    }
  });

  it('gives a presigned URL that serves the bytes, or null when the store streams only', async () => {
    const key = `${prefix()}report.pdf`;
    const data = randomBytes(2048);
    await store.put(key, Readable.from([data]), { contentType: 'application/pdf' });
    const url = await store.presignGet(key, { ttlSeconds: 60, fileName: 'report.pdf', contentType: 'application/pdf' });
    if (store.kind === 'fs') {
      expect(url).toBeNull();
      return;
    }
    expect(url).toMatch(/^http/);
    const answer = await fetch(url as string);
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-disposition')).toContain('report.pdf');
    expect(Buffer.from(await answer.arrayBuffer())).toEqual(data);
  });

  it('answers ping', async () => {
    await expect(store.ping()).resolves.toBeUndefined();
  });
}
