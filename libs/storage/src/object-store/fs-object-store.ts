import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, rmdir, stat, unlink } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { meter } from './metered';
import {
  type GetOptions,
  InvalidKeyError,
  type ListOptions,
  type ObjectHead,
  type ObjectList,
  type ObjectRead,
  type ObjectStore,
  type PutOptions,
  type PutResult,
  RangeNotSatisfiableError,
} from './object-store';

/*
 * Keys map to files with a suffix on every segment: directories end in `.d`, objects in `.f`. S3 lets `a` and
 * `a/b` both be objects; a filesystem cannot have `a` as a file and a directory at once, and the suffixes make
 * every key its own path whatever names tenants choose. Uploads are written to `.tmp/` (no mapped name starts with a
 * dot and lacks a suffix) and renamed into place, so a reader never sees half an object.
 */
const DIR_SUFFIX = '.d';
const FILE_SUFFIX = '.f';
const TMP_DIR = '.tmp';

/** Local mode's object store: plain files under one root directory. */
export class FsObjectStore implements ObjectStore {
  readonly kind = 'fs' as const;
  private readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  async put(key: string, body: Readable, options: PutOptions = {}): Promise<PutResult> {
    const file = this.fileOf(key);
    const tmpDir = join(this.root, TMP_DIR);
    await mkdir(tmpDir, { recursive: true });
    const tmp = join(tmpDir, randomUUID());
    const { metered, detach } = meter(body, options.maxBytes);
    try {
      await pipeline(metered, createWriteStream(tmp, { flags: 'wx' }));
      await mkdir(resolve(file, '..'), { recursive: true });
      await rename(tmp, file);
    } catch (error) {
      detach();
      await rm(tmp, { force: true });
      throw error;
    }
    return metered.result();
  }

  async get(key: string, options: GetOptions = {}): Promise<ObjectRead | null> {
    const file = this.fileOf(key);
    let handle;
    try {
      handle = await open(file, 'r');
    } catch (error) {
      if (isMissing(error)) return null;
      throw error;
    }
    // Size and bytes come from one open file: a concurrent replace (a rename) does not change what this reads.
    // Until the body stream owns the handle, every way out closes it: Node 26 throws on a handle left to the GC.
    let size: number;
    try {
      ({ size } = await handle.stat());
    } catch (error) {
      await handle.close();
      throw error;
    }
    const range = options.range ?? null;
    if (range && (range.start >= size || range.end >= size || range.start > range.end)) {
      await handle.close();
      throw new RangeNotSatisfiableError(size);
    }
    const body = handle.createReadStream(range ? { start: range.start, end: range.end } : {});
    return { body, size, range };
  }

  async head(key: string): Promise<ObjectHead | null> {
    try {
      const info = await stat(this.fileOf(key));
      return info.isFile() ? { size: info.size } : null;
    } catch (error) {
      if (isMissing(error)) return null;
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    const file = this.fileOf(key);
    try {
      await unlink(file);
    } catch (error) {
      if (isMissing(error)) return;
      throw error;
    }
    // Empty directories left behind would pile up forever; the first non-empty one (or the root) stops the climb.
    let dir = resolve(file, '..');
    while (dir !== this.root && dir.startsWith(this.root + sep)) {
      try {
        await rmdir(dir);
      } catch {
        return;
      }
      dir = resolve(dir, '..');
    }
  }

  async list(prefix: string, options: ListOptions = {}): Promise<ObjectList> {
    const limit = options.limit ?? 1000;
    const slash = prefix.lastIndexOf('/');
    const base = slash >= 0 ? prefix.slice(0, slash) : '';
    const keys: { key: string; size: number }[] = [];
    const walk = async (dir: string, keyPrefix: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (error) {
        if (isMissing(error)) return;
        throw error;
      }
      for (const entry of entries) {
        if (entry.isDirectory() && entry.name.endsWith(DIR_SUFFIX)) {
          await walk(join(dir, entry.name), `${keyPrefix}${entry.name.slice(0, -DIR_SUFFIX.length)}/`);
        } else if (entry.isFile() && entry.name.endsWith(FILE_SUFFIX)) {
          const key = `${keyPrefix}${entry.name.slice(0, -FILE_SUFFIX.length)}`;
          if (key.startsWith(prefix) && (!options.startAfter || key > options.startAfter)) {
            keys.push({ key, size: (await stat(join(dir, entry.name))).size });
          }
        }
      }
    };
    await walk(base ? this.dirOf(base) : this.root, base ? `${base}/` : '');
    keys.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const objects = keys.slice(0, limit);
    return {
      objects,
      nextStartAfter: keys.length > limit ? (objects[objects.length - 1]?.key ?? null) : null,
    };
  }

  presignGet(): Promise<string | null> {
    return Promise.resolve(null);
  }

  async ping(): Promise<void> {
    await mkdir(this.root, { recursive: true });
  }

  private segments(key: string): string[] {
    const parts = key.split('/');
    if (parts.some((part) => !part || part === '.' || part === '..' || part.includes('\0'))) {
      throw new InvalidKeyError(key);
    }
    return parts;
  }

  private fileOf(key: string): string {
    const parts = this.segments(key);
    const last = parts.pop() as string;
    return this.inside([...parts.map((part) => part + DIR_SUFFIX), last + FILE_SUFFIX], key);
  }

  private dirOf(keyPrefix: string): string {
    return this.inside(
      this.segments(keyPrefix).map((part) => part + DIR_SUFFIX),
      keyPrefix,
    );
  }

  /** Belt and braces beside the segment checks: whatever a key holds, the path it maps to stays under the root. */
  private inside(parts: string[], key: string): string {
    const path = resolve(this.root, ...parts);
    const rel = relative(this.root, path);
    if (!rel || rel.startsWith('..') || resolve(this.root, rel) !== path) throw new InvalidKeyError(key);
    return path;
  }
}

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
