import { mkdirSync, realpathSync } from 'node:fs';
import { lstat, mkdir, realpath } from 'node:fs/promises';
import { join, sep } from 'node:path';
import type { AGENT_AREA_DIRS } from '@bctrl/contracts';

/** Typed copy of the contract's list (the agent loads no @bctrl/contracts at run time; see agent-env.ts). */
export const AREA_DIRS: typeof AGENT_AREA_DIRS = ['files', 'downloads'];
export type AreaDir = (typeof AREA_DIRS)[number];

/** Long enough for any real name, short enough that no caller can make the agent juggle megabyte paths. */
const MAX_PATH_LENGTH = 1024;
/** Linux's NAME_MAX, in bytes. */
const MAX_SEGMENT_BYTES = 255;
/** Outside AREA_DIRS, so a half-written upload is never listed or read. */
const INCOMING_DIR = '.incoming';

/** A path the caller may not use; the HTTP layer answers 400 with its message. */
export class FilePathError extends Error {}

/** A checked path of the work area. Nothing about the filesystem is known yet (see WorkArea.existing). */
export interface AreaPath {
  /** Work-area-relative, `/`-separated, starting with one of AREA_DIRS. */
  path: string;
  dir: AreaDir;
  /** Path segments after `dir`; empty when the path names `dir` itself. */
  rest: string[];
}

/**
 * The part of the runtime's work dir the file API may touch: `files/` and `downloads/`. Chromium's user-data-dir
 * (cookies, saved state) and the agent's own files sit next to them in the same work dir, so every path is
 * checked twice: by its text (parse: no `..`, no control characters, one of the area folders first) and, once it
 * meets the filesystem, by where it really leads (realpath must stay inside an area folder, so a symlink inside
 * the area cannot lead out of it).
 */
export class WorkArea {
  /** The work dir with symlinks resolved: runtimePaths are built on it. */
  readonly root: string;
  /** Where uploads are written before they are renamed into place. */
  readonly incomingDir: string;
  private readonly realDirs: ReadonlyMap<AreaDir, string>;
  /** Prefixes an absolute path may use: the work dir as configured and as resolved. */
  private readonly prefixes: string[];

  constructor(workDir: string) {
    for (const dir of [...AREA_DIRS, INCOMING_DIR]) mkdirSync(join(workDir, dir), { recursive: true });
    this.root = realpathSync(workDir);
    this.incomingDir = join(this.root, INCOMING_DIR);
    this.realDirs = new Map(AREA_DIRS.map((dir) => [dir, realpathSync(join(this.root, dir))]));
    this.prefixes = [...new Set([this.root, workDir.replace(/\/+$/, '')])];
  }

  dirPath(dir: AreaDir): string {
    return join(this.root, dir);
  }

  /** The absolute path inside the runtime of a checked path (not resolved: that is `existing`'s job). */
  runtimePath(path: AreaPath): string {
    return join(this.root, path.path);
  }

  /**
   * Checks a caller's path by its text: work-area-relative (`files/a.txt`), or absolute inside the work area (a
   * runtimePath handed out earlier). `folder: true` accepts a bare area folder (`downloads`), for listings.
   */
  parse(input: unknown, options: { folder?: boolean } = {}): AreaPath {
    if (typeof input !== 'string' || input.length === 0) throw new FilePathError('path is required');
    if (input.length > MAX_PATH_LENGTH) throw new FilePathError(`path is longer than ${MAX_PATH_LENGTH} characters`);
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f\u007f]/.test(input)) throw new FilePathError('path contains control characters');
    // A backslash is an ordinary byte on Linux, but reads as a separator to anyone on Windows: refuse the ambiguity.
    if (input.includes('\\')) throw new FilePathError('path contains a backslash');
    let relative = input;
    if (input.startsWith('/')) {
      const prefix = this.prefixes.find((candidate) => input.startsWith(`${candidate}/`));
      if (!prefix) throw new FilePathError('an absolute path must lie inside the work area');
      relative = input.slice(prefix.length + 1);
    }
    const segments = relative.split('/');
    for (const segment of segments) {
      if (segment === '' || segment === '.' || segment === '..') {
        throw new FilePathError('path segments must not be empty, "." or ".."');
      }
      if (Buffer.byteLength(segment) > MAX_SEGMENT_BYTES) {
        throw new FilePathError(`a path segment is longer than ${MAX_SEGMENT_BYTES} bytes`);
      }
    }
    const [dir, ...rest] = segments as [string, ...string[]];
    if (!isAreaDir(dir)) throw new FilePathError(`path must start with ${AREA_DIRS.map((d) => `${d}/`).join(' or ')}`);
    if (rest.length === 0 && !options.folder) throw new FilePathError(`path names the ${dir} folder, not a file`);
    return { path: segments.join('/'), dir, rest };
  }

  /** True when a resolved (symlink-free) absolute path is an area folder or lies inside one. */
  contains(realPath: string): boolean {
    return [...this.realDirs.values()].some((dir) => realPath === dir || realPath.startsWith(`${dir}${sep}`));
  }

  /** The work-area-relative path of a resolved absolute path inside the area. */
  relative(realPath: string): string {
    return realPath
      .slice(this.root.length + 1)
      .split(sep)
      .join('/');
  }

  /** Where the path really leads, or null when nothing is there. Throws FilePathError when that is outside the area. */
  async existing(path: AreaPath): Promise<string | null> {
    let real: string;
    try {
      real = await realpath(this.runtimePath(path));
    } catch (error) {
      if (isMissing(error)) return null;
      throw error;
    }
    if (!this.contains(real)) throw new FilePathError('path leads out of the work area');
    return real;
  }

  /**
   * Makes the folders a new file at `path` needs and returns the real folder it goes into. Folders are made one
   * at a time below the deepest one that exists, after checking where that one really is: `mkdir -p` would follow
   * a symlink in an existing segment and make folders wherever it pointed.
   */
  async parentFor(path: AreaPath): Promise<string> {
    const folders = [path.dir, ...path.rest.slice(0, -1)];
    let existing = folders.length;
    let real: string | null = null;
    while (existing > 0) {
      try {
        real = await realpath(join(this.root, ...folders.slice(0, existing)));
        break;
      } catch (error) {
        if (!isMissing(error)) throw error;
        existing--;
      }
    }
    // The area folder itself always exists (made in the constructor), so `real` is set unless it was removed.
    if (real === null || !this.contains(real)) throw new FilePathError('path leads out of the work area');
    if (!(await lstat(real)).isDirectory()) throw new FilePathError('a parent of path is a file');
    for (const folder of folders.slice(existing)) {
      real = join(real, folder);
      try {
        await mkdir(real);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        // Made concurrently: fine if it is a real folder, not if something put a symlink there meanwhile.
        if (!(await lstat(real)).isDirectory()) throw new FilePathError('a parent of path is not a folder');
      }
    }
    return real;
  }
}

function isAreaDir(value: string): value is AreaDir {
  return (AREA_DIRS as readonly string[]).includes(value);
}

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  // ENOTDIR: a segment before the last is a file, so the path cannot exist.
  return code === 'ENOENT' || code === 'ENOTDIR';
}
