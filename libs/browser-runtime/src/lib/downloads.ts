import { createHash } from 'node:crypto';
import { constants, createReadStream } from 'node:fs';
import { copyFile, link, lstat, realpath, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { CdpSession } from '@bctrl/cdp-client';
import type { AgentDownloadCompleted, AgentDownloadFailed } from '@bctrl/contracts';
import { RunEvent } from '@bctrl/contracts';
import type { WorkArea } from './work-area';

/** A download URL in an event is cut to this: it is a pointer for a reader, not a payload. */
const URL_MAX = 2_048;

interface Started {
  guid: string;
  suggestedFilename: string;
  url: string;
  targetId?: string;
  browserContextId?: string;
  /** Set once the agent asked Chromium to cancel it for being over the size limit. */
  tooLarge?: boolean;
}

/**
 * Puts every download of the browser into the work area's `downloads/` and reports it as an AgentEvent
 * (`download.completed` with path, size and sha256, or `download.failed`), on a CDP connection of its own.
 *
 * Who decides where a download goes, as measured on Chromium 156 with playwright-core 1.65:
 * - `Browser.setDownloadBehavior` is per browser context (no `browserContextId` = the default context), and the
 *   last caller wins. A context created with `Target.createBrowserContext` that nobody configures denies every
 *   download (it begins, then is canceled at 0 bytes).
 * - Playwright's `connectOverCDP` configures the default context at connect, and each `browser.newContext()` right
 *   after creating it (before any page exists), with `allowAndName` into a temp folder of the *client's* machine.
 *   When a client disconnects, Chromium resets the contexts it configured to the browser default: the profile's
 *   preferences, which chromium.ts points at `downloads/` (files then keep their suggested name).
 * - `downloadWillBegin`/`downloadProgress` go to every CDP connection that enabled download events, whoever
 *   configured the context; `downloadProgress` with state `completed` carries `filePath`, where the file really is.
 * So the agent configures the default context once (for clients that configure nothing) and never overrides a
 * client's choice afterwards: doing so for new contexts (on their first target) would always land after
 * Playwright's own call and move the file away from the path Playwright's `download.path()`/`saveAs()` read,
 * breaking them for clients on the same machine. Instead it takes each completed download from `filePath`: a
 * file outside the work area is hard-linked (or, across filesystems, copied) into `downloads/`, so a client
 * removing its temp folder later does not take the agent's copy with it. Either way the file in `downloads/` has
 * the name the site suggested, made unique as Chrome does (`downloadFileName`): a tenant listing the folder finds
 * `report.bin`, and the `allowAndName` file (named by guid) is renamed to it. Contexts no one configured stay as
 * Chromium has them (downloads denied), as they would without BCTRL. Playwright's `waitForEvent('download')`
 * works unchanged: its events do not depend on ours.
 * Size limit: Chromium has none, so an in-progress download over `maxBytes` is canceled from its progress events
 * (which come about once a second, so the partial file can overshoot the limit by about a second's worth).
 */
export class DownloadWatcher {
  private cdp: CdpSession | null = null;
  private readonly started = new Map<string, Started>();
  /** Page and iframe targets by id, to name the tab a download began in and to cancel it in its context. */
  private readonly targets = new Map<string, string | undefined>();

  constructor(
    private readonly area: WorkArea,
    private readonly maxBytes: number,
    private readonly report: (
      type: typeof RunEvent.downloadCompleted | typeof RunEvent.downloadFailed,
      data: object,
    ) => void,
  ) {}

  async attach(cdpUrl: string): Promise<void> {
    const cdp = await CdpSession.connect(cdpUrl);
    this.cdp = cdp;
    const onTarget = (params: Record<string, unknown>) => {
      const info = params['targetInfo'] as { targetId: string; type: string; browserContextId?: string };
      if (info.type === 'page' || info.type === 'iframe') this.targets.set(info.targetId, info.browserContextId);
    };
    cdp.on('Target.targetCreated', onTarget);
    cdp.on('Target.targetInfoChanged', onTarget);
    cdp.on('Target.targetDestroyed', (params) => void this.targets.delete(params['targetId'] as string));
    cdp.on('Browser.downloadWillBegin', (params) => this.onWillBegin(params));
    cdp.on('Browser.downloadProgress', (params) => this.onProgress(params));
    this.post('Browser.setDownloadBehavior', {
      behavior: 'allowAndName',
      downloadPath: this.area.dirPath('downloads'),
      eventsEnabled: true,
    });
    this.post('Target.setDiscoverTargets', { discover: true });
  }

  close(): void {
    this.cdp?.close();
    this.cdp = null;
  }

  private post(method: string, params: object): void {
    this.cdp?.post(method, params, {
      onError: (error) => process.stderr.write(`browser-runtime: downloads: ${error.message}\n`),
    });
  }

  private onWillBegin(params: Record<string, unknown>): void {
    const guid = params['guid'] as string;
    const frameId = params['frameId'] as string;
    // A page's main frame has the page's target id; a download from a subframe names no tab.
    const known = this.targets.has(frameId);
    this.started.set(guid, {
      guid,
      suggestedFilename: String(params['suggestedFilename'] ?? ''),
      url: safeUrl(String(params['url'] ?? '')),
      ...(known ? { targetId: frameId, browserContextId: this.targets.get(frameId) } : {}),
    });
  }

  private onProgress(params: Record<string, unknown>): void {
    const guid = params['guid'] as string;
    const state = params['state'] as string;
    // Progress of a download that began before this connection: report what is known.
    const download = this.started.get(guid) ?? { guid, suggestedFilename: '', url: '' };
    if (state === 'inProgress') {
      const bytes = Math.max(Number(params['totalBytes'] ?? 0), Number(params['receivedBytes'] ?? 0));
      if (bytes > this.maxBytes && !download.tooLarge) {
        download.tooLarge = true;
        this.started.set(guid, download);
        this.post('Browser.cancelDownload', {
          guid,
          ...(download.browserContextId ? { browserContextId: download.browserContextId } : {}),
        });
      }
      return;
    }
    this.started.delete(guid);
    if (state === 'canceled') {
      this.fail(download, download.tooLarge ? 'too_large' : 'canceled');
      return;
    }
    if (state !== 'completed') return;
    const filePath = typeof params['filePath'] === 'string' ? params['filePath'] : undefined;
    this.complete(download, filePath).catch((error: unknown) => {
      process.stderr.write(`browser-runtime: download ${guid} could not be kept: ${String(error)}\n`);
      this.fail(download, 'unavailable');
    });
  }

  /** Makes sure the finished file is in the work area, measures it, and reports it. */
  private async complete(download: Started, filePath: string | undefined): Promise<void> {
    // filePath is "not guaranteed to be set"; without it, the file is where this agent told Chromium to put it.
    const source = filePath ?? join(this.area.dirPath('downloads'), download.guid);
    const info = await lstat(source);
    if (!info.isFile()) throw new Error('the browser reported something that is not a regular file');
    let kept = await realpath(source);
    if (info.size > this.maxBytes) {
      // Over the limit yet completed: it finished between two progress events, before a cancel could land.
      if (this.area.contains(kept)) await rm(kept, { force: true });
      this.fail(download, 'too_large');
      return;
    }
    if (!this.area.contains(kept)) {
      kept = await this.keepNamed(source, download.suggestedFilename);
    } else if (kept === join(this.area.dirPath('downloads'), download.guid)) {
      // The agent's own allowAndName setting: Chromium is done with the file, which now gets its real name.
      const named = await this.keepNamed(kept, download.suggestedFilename);
      await unlink(kept);
      kept = named;
    }
    const hash = createHash('sha256');
    let size = 0;
    await pipeline(createReadStream(kept), async (chunks: AsyncIterable<Buffer>) => {
      for await (const chunk of chunks) {
        size += chunk.length;
        hash.update(chunk);
      }
    });
    const data: AgentDownloadCompleted = {
      guid: download.guid,
      suggestedFilename: download.suggestedFilename,
      path: this.area.relative(kept),
      size,
      sha256: hash.digest('hex'),
      url: download.url,
      ...(download.targetId ? { targetId: download.targetId } : {}),
    };
    this.report(RunEvent.downloadCompleted, data);
  }

  /**
   * Links (or, across filesystems, copies) `source` into `downloads/` under the first free name for `suggested`.
   * Link and exclusive copy fail on a name already taken, so two downloads finishing at once never share one.
   */
  private async keepNamed(source: string, suggested: string): Promise<string> {
    const dir = this.area.dirPath('downloads');
    for (let attempt = 0; ; attempt++) {
      const target = join(dir, downloadFileName(suggested, attempt));
      try {
        await link(source, target).catch(async (error: NodeJS.ErrnoException) => {
          // EXDEV: another filesystem (a pod's /tmp and /work are separate volumes); EPERM: links not allowed there.
          if (error.code !== 'EXDEV' && error.code !== 'EPERM') throw error;
          await copyFile(source, target, constants.COPYFILE_EXCL);
        });
        return target;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
    }
  }

  private fail(download: Started, reason: AgentDownloadFailed['reason']): void {
    const data: AgentDownloadFailed = {
      guid: download.guid,
      suggestedFilename: download.suggestedFilename,
      url: download.url,
      ...(download.targetId ? { targetId: download.targetId } : {}),
      reason,
    };
    this.report(RunEvent.downloadFailed, data);
  }
}

/** Linux's NAME_MAX, in bytes: the longest file name `downloads/` can hold. */
const NAME_MAX_BYTES = 255;

/**
 * Compression suffixes Chrome keeps together with a short extension before them (`.tar.gz`), so that a counter
 * goes before both: Chromium's base::FilePath::Extension.
 */
const DOUBLE_EXTENSION_SUFFIXES = new Set(['bz', 'bz2', 'gz', 'lz', 'lzma', 'lzo', 'xz', 'z', 'zst']);

/**
 * The name a download gets in `downloads/` on its `attempt`-th try (0, 1, 2… while the earlier ones are taken),
 * as Chrome names them: `report.bin`, `report (1).bin`, `report (2).bin`. The counter goes before the extension
 * (`archive (1).tar.gz`), at the end of a name without one (`README (1)`) and of a dotfile (`.env (1)`, while
 * `.config.json` gives `.config (1).json`). The suggestion is made one safe file name first: no folders, no
 * control characters, no backslash (the file API refuses it), at most 255 bytes with the counter, `download` when
 * nothing is left.
 */
export function downloadFileName(suggested: string, attempt = 0): string {
  const clean =
    suggested
      .replace(/[/\\]/g, '_')
      // eslint-disable-next-line no-control-regex
      .replace(/[\u0000-\u001f\u007f]/g, '')
      .trim()
      .replace(/^\.+$/, '') || 'download';
  const extensionAt = extensionStart(clean);
  let stem = clean.slice(0, extensionAt);
  let extension = clean.slice(extensionAt);
  const counter = attempt > 0 ? ` (${attempt})` : '';
  // An extension too long to keep whole is not one worth keeping.
  if (Buffer.byteLength(extension) + Buffer.byteLength(counter) > NAME_MAX_BYTES / 2) {
    stem = clean;
    extension = '';
  }
  const room = NAME_MAX_BYTES - Buffer.byteLength(counter) - Buffer.byteLength(extension);
  return `${truncateUtf8(stem, room)}${counter}${extension}`;
}

/** Where a file name's extension begins (its length when it has none); leading dots belong to the name. */
function extensionStart(name: string): number {
  const leadingDots = /^\.*/.exec(name)?.[0].length ?? 0;
  const last = name.lastIndexOf('.');
  if (last <= leadingDots) return name.length;
  const penultimate = name.lastIndexOf('.', last - 1);
  const suffix = name.slice(last + 1).toLowerCase();
  const before = last - penultimate - 1;
  if (penultimate > leadingDots && DOUBLE_EXTENSION_SUFFIXES.has(suffix) && before >= 1 && before <= 4) {
    return penultimate;
  }
  return last;
}

/** The longest prefix of `text` of at most `bytes` UTF-8 bytes that does not split a character. */
function truncateUtf8(text: string, bytes: number): string {
  if (Buffer.byteLength(text) <= bytes) return text;
  let end = 0;
  let used = 0;
  for (const char of text) {
    const size = Buffer.byteLength(char);
    if (used + size > bytes) break;
    used += size;
    end += char.length;
  }
  return text.slice(0, end);
}

/**
 * The URL as it may appear in a run's record: no credentials (`user:pass@`), no query string or fragment (where
 * signed URLs keep their tokens); `data:` URLs are their content, so only the scheme is kept.
 */
export function safeUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return '';
  }
  if (url.protocol === 'blob:') return `blob:${safeUrl(raw.slice('blob:'.length))}`;
  if (!['http:', 'https:', 'ftp:', 'file:'].includes(url.protocol)) return url.protocol;
  const clean = `${url.protocol}//${url.host}${url.pathname}`;
  return clean.length > URL_MAX ? clean.slice(0, URL_MAX) : clean;
}
