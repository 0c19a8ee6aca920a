import { createHash, randomBytes } from 'node:crypto';
import { constants, createWriteStream } from 'node:fs';
import { open, opendir, rename, rm, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { basename, join } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { AgentFileList, AgentFileWritten } from '@bctrl/contracts';
import { AREA_DIRS, FilePathError, type WorkArea } from './work-area';

/** A listing stops here: the platform pages through storage, not through a runtime's scratch folder. */
const LIST_LIMIT = 10_000;

/** A body over the size limit; answered with 413. */
class TooLargeError extends Error {}

type Send = (code: number, body: unknown) => void;

/**
 * The file API of the agent (AGENT_PATHS.files, filesList): how the platform stages files into the runtime's work
 * area and collects them (downloads included) back out. Bodies are streamed both ways, never held in memory.
 */
export class FileApi {
  constructor(
    private readonly area: WorkArea,
    private readonly maxBytes: number,
  ) {}

  async put(req: IncomingMessage, res: ServerResponse, send: Send): Promise<void> {
    await this.answer(res, send, async () => {
      const path = this.area.parse(query(req).get('path'));
      // The browser alone writes downloads/: a download event's path must name what the browser saved.
      if (path.dir !== 'files') throw new FilePathError('files are written under files/ only');
      const declared = Number(req.headers['content-length'] ?? 0);
      if (declared > this.maxBytes) throw new TooLargeError();
      const parent = await this.area.parentFor(path);
      const written = await this.receive(req, join(parent, basename(path.path)));
      const body: AgentFileWritten = { path: path.path, runtimePath: this.area.runtimePath(path), ...written };
      send(201, body);
    });
  }

  async get(req: IncomingMessage, res: ServerResponse, send: Send): Promise<void> {
    await this.answer(res, send, async () => {
      const real = await this.area.existing(this.area.parse(query(req).get('path')));
      if (real === null) return send(404, { error: 'no such file' });
      // O_NOFOLLOW: `real` has no symlink in it now; this keeps one swapped in since from being followed.
      const handle = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW);
      try {
        const info = await handle.stat();
        if (!info.isFile()) return send(400, { error: info.isDirectory() ? 'path is a folder' : 'not a file' });
        res.writeHead(200, {
          'content-type': 'application/octet-stream',
          'content-length': info.size,
          'last-modified': info.mtime.toUTCString(),
        });
        if (info.size === 0) return void res.end();
        // From the descriptor checked above, not the path again; and no further than the length promised, even
        // when the file is still growing (a download in progress).
        await pipeline(handle.createReadStream({ start: 0, end: info.size - 1, autoClose: false }), res);
      } finally {
        await handle.close().catch(() => undefined);
      }
    });
  }

  async list(req: IncomingMessage, res: ServerResponse, send: Send): Promise<void> {
    await this.answer(res, send, async () => {
      const dir = query(req).get('dir');
      const roots =
        dir === null
          ? AREA_DIRS.map((d) => this.area.parse(d, { folder: true }))
          : [this.area.parse(dir, { folder: true })];
      const listing: AgentFileList = { files: [], truncated: false };
      for (const root of roots) {
        const real = await this.area.existing(root);
        if (real === null) return send(404, { error: 'no such folder' });
        if (!(await stat(real)).isDirectory()) return send(400, { error: 'dir is a file' });
        if (!(await this.walk(real, root.path, listing))) break;
      }
      listing.files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
      send(200, listing);
    });
  }

  /** Adds the regular files below `real` to the listing; false once the limit stopped it. Symlinks are skipped, not followed. */
  private async walk(real: string, shown: string, listing: AgentFileList): Promise<boolean> {
    for await (const entry of await opendir(real)) {
      const path = `${shown}/${entry.name}`;
      if (entry.isDirectory()) {
        if (!(await this.walk(join(real, entry.name), path, listing))) return false;
      } else if (entry.isFile()) {
        if (listing.files.length >= LIST_LIMIT) {
          listing.truncated = true;
          return false;
        }
        const info = await stat(join(real, entry.name)).catch(() => null);
        // Gone between readdir and stat (a download renamed into place): the next listing shows it.
        if (info) listing.files.push({ path, size: info.size, modifiedAt: info.mtime.toISOString() });
      }
    }
    return true;
  }

  /** Streams the body into a temp file, then renames it to `target`: a reader never sees half a file. */
  private async receive(req: IncomingMessage, target: string): Promise<{ size: number; sha256: string }> {
    const temp = join(this.area.incomingDir, randomBytes(12).toString('hex'));
    const hash = createHash('sha256');
    let size = 0;
    const maxBytes = this.maxBytes;
    const meter = new Transform({
      transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback) {
        size += chunk.length;
        if (size > maxBytes) return done(new TooLargeError());
        hash.update(chunk);
        done(null, chunk);
      },
    });
    // The request is piped by hand rather than inside pipeline(): pipeline would destroy it (and its socket) on
    // the size error, and the caller would see a reset connection instead of the 413.
    const cutOff = () => {
      if (!req.complete) meter.destroy(new Error('the upload was cut off'));
    };
    req.once('close', cutOff);
    req.once('error', cutOff);
    req.pipe(meter);
    try {
      await pipeline(meter, createWriteStream(temp, { flags: 'wx', mode: 0o644 }));
      await rename(temp, target);
    } catch (error) {
      req.unpipe(meter);
      await rm(temp, { force: true });
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EISDIR' || code === 'ENOTEMPTY') throw new FilePathError('path is a folder');
      throw error;
    } finally {
      req.off('close', cutOff);
      req.off('error', cutOff);
    }
    return { size, sha256: hash.digest('hex') };
  }

  /** Runs a handler and turns its errors into answers: 400 bad path, 413 too large, 500 anything else. */
  private async answer(res: ServerResponse, send: Send, handler: () => Promise<void>): Promise<void> {
    try {
      await handler();
    } catch (error) {
      if (res.headersSent) {
        // Mid-stream: the length promised no longer holds, so the only honest signal is a cut connection.
        res.destroy();
        return;
      }
      // The rest of a refused upload is not worth reading: the connection closes after the answer.
      res.setHeader('connection', 'close');
      if (error instanceof FilePathError) send(400, { error: error.message });
      else if (error instanceof TooLargeError) send(413, { error: `files are limited to ${this.maxBytes} bytes` });
      else {
        process.stderr.write(`browser-runtime: file API: ${String(error)}\n`);
        send(500, { error: 'file operation failed' });
      }
    }
  }
}

function query(req: IncomingMessage): URLSearchParams {
  return new URL(req.url ?? '', 'http://agent').searchParams;
}
