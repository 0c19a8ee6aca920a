import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { CdpSession } from '@bctrl/cdp-client';
import {
  AGENT_ENV,
  AGENT_PATHS,
  type AgentDownloadCompleted,
  type AgentEvent,
  type AgentFileList,
  type AgentFileWritten,
} from '@bctrl/contracts';
import { AgentProcesses, shutdown, type StartedAgent, waitHealthy } from '../testing/agent-process';

jest.setTimeout(60_000);

const agents = new AgentProcesses('files');
const browsers = new Set<Browser>();
/** The agent's size limit in these specs: small enough to exceed cheaply. */
const MAX_FILE_BYTES = 1024 * 1024;

interface Agent extends StartedAgent {
  cdpUrl: string;
}

/** An agent whose browser is ready. */
async function startAgent(): Promise<Agent> {
  const agent = await agents.start({
    runtimeId: 'rt_files',
    env: { [AGENT_ENV.maxFileBytes]: String(MAX_FILE_BYTES) },
  });
  const health = await waitHealthy(agent);
  return { ...agent, cdpUrl: health.browser?.cdpUrl ?? '' };
}

function call(
  agent: Pick<Agent, 'url' | 'token'>,
  method: string,
  path: string,
  query: Record<string, string> = {},
  body?: RequestInit['body'],
  headers: Record<string, string> = {},
): Promise<Response> {
  const url = new URL(`${agent.url}${path}`);
  for (const [key, value] of Object.entries(query)) url.searchParams.set(key, value);
  return fetch(url, {
    method,
    headers: { authorization: `Bearer ${agent.token}`, ...headers },
    body,
    ...(body instanceof ReadableStream ? { duplex: 'half' } : {}),
  } as RequestInit);
}

const sha256 = (bytes: Buffer | Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** Long-polls the agent's events until one matches. */
async function waitForEvent(agent: Agent, match: (event: AgentEvent) => boolean): Promise<AgentEvent> {
  let after = 0;
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const response = await call(agent, 'GET', AGENT_PATHS.events, { after: String(after), waitMs: '2000' });
    const { events } = (await response.json()) as { events: AgentEvent[] };
    const found = events.find(match);
    if (found) return found;
    after = events.at(-1)?.seq ?? after;
  }
  throw new Error('event never came');
}

/**
 * The page's server: an upload page whose script posts the chosen file's bytes back (the server keeps their
 * sha256), and a download served as an attachment.
 */
interface Site {
  url: string;
  download: Buffer;
  uploads: string[];
  /** Whether the oversized download was served to its end (it should have been canceled before). */
  hugeFinished(): boolean;
  close(): Promise<void>;
}

async function startSite(): Promise<Site> {
  const download = randomBytes(300 * 1024);
  const uploads: string[] = [];
  let hugeFinished = false;
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/upload' && req.method === 'POST') {
      const hash = createHash('sha256');
      req.on('data', (chunk: Buffer) => hash.update(chunk));
      req.on('end', () => {
        uploads.push(hash.digest('hex'));
        res.writeHead(204).end();
      });
      return;
    }
    if (path === '/huge') {
      // Four times the agent's limit, slowly enough for Chromium's progress events to see it grow.
      res.writeHead(200, {
        'content-type': 'application/octet-stream',
        'content-disposition': 'attachment; filename="huge.bin"',
        'content-length': MAX_FILE_BYTES * 4,
      });
      let chunks = 0;
      const timer = setInterval(() => {
        if (res.destroyed) return clearInterval(timer);
        res.write(randomBytes(MAX_FILE_BYTES / 8));
        if (++chunks === 32) {
          clearInterval(timer);
          hugeFinished = true;
          res.end();
        }
      }, 50);
      return;
    }
    if (path === '/report') {
      res.writeHead(200, {
        'content-type': 'application/octet-stream',
        'content-disposition': 'attachment; filename="quarterly report.bin"',
        'content-length': download.length,
      });
      res.end(download);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(`<!doctype html><title>files</title>
<input id="file" type="file" onchange="fetch('/upload', {method: 'POST', body: this.files[0]}).then(() => document.title = 'sent')">
<a id="download" href="/report?token=s3cret">report</a>`);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    download,
    uploads,
    hugeFinished: () => hugeFinished,
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}

async function connect(agent: Agent, options: { isLocal?: boolean } = {}): Promise<Browser> {
  const browser = await chromium.connectOverCDP(agent.cdpUrl, options);
  browsers.add(browser);
  return browser;
}

async function disconnect(browser: Browser): Promise<void> {
  browsers.delete(browser);
  await browser.close();
}

let site: Site;

beforeAll(async () => {
  site = await startSite();
});

afterAll(async () => {
  for (const browser of browsers) await browser.close().catch(() => undefined);
  const left = await agents.tearDown();
  await site.close();
  expect(left).toEqual([]);
});

describe('browser-runtime file API', () => {
  let agent: Agent;
  beforeAll(async () => {
    agent = await startAgent();
  });
  afterAll(async () => {
    await shutdown(agent);
  });

  it('stages a file that a page then gets through setInputFiles, byte for byte', async () => {
    const bytes = randomBytes(200 * 1024 + 7);
    const staged = await call(agent, 'PUT', AGENT_PATHS.files, { path: 'files/inputs/photo.jpg' }, bytes);
    expect(staged.status).toBe(201);
    const written = (await staged.json()) as AgentFileWritten;
    expect(written).toEqual({
      path: 'files/inputs/photo.jpg',
      runtimePath: join(agent.workDir, 'files/inputs/photo.jpg'),
      size: bytes.length,
      sha256: sha256(bytes),
    });

    // isLocal: Playwright hands the path itself to the browser (DOM.setFileInputFiles) instead of reading the file
    // and sending its bytes. Either way its client first stats the path on its own disk (playwright-core 1.65), so
    // this works only where the client shares the runtime's filesystem (local mode).
    const browser = await connect(agent, { isLocal: true });
    const page = await browser.contexts()[0].newPage();
    await page.goto(site.url);
    await page.setInputFiles('#file', written.runtimePath);
    await page.waitForFunction('document.title === "sent"');
    // What works from any machine: the CDP command itself, which only the browser resolves.
    await page.evaluate('document.title = ""; document.getElementById("file").value = ""');
    const session = await page.context().newCDPSession(page);
    const { root } = (await session.send('DOM.getDocument')) as { root: { nodeId: number } };
    const { nodeId } = await session.send('DOM.querySelector', { nodeId: root.nodeId, selector: '#file' });
    await session.send('DOM.setFileInputFiles', { nodeId, files: [written.runtimePath] });
    await page.waitForFunction('document.title === "sent"');
    await page.close();
    await disconnect(browser);
    expect(site.uploads).toEqual([sha256(bytes), sha256(bytes)]);
  });

  it('streams a file back by relative or runtime path, and lists the work area', async () => {
    const bytes = randomBytes(64 * 1024);
    const written = (await (
      await call(agent, 'PUT', AGENT_PATHS.files, { path: 'files/out/data.bin' }, bytes)
    ).json()) as AgentFileWritten;
    for (const path of ['files/out/data.bin', written.runtimePath]) {
      const response = await call(agent, 'GET', AGENT_PATHS.files, { path });
      expect(response.status).toBe(200);
      expect(response.headers.get('content-length')).toBe(String(bytes.length));
      expect(sha256(Buffer.from(await response.arrayBuffer()))).toBe(sha256(bytes));
    }
    // Replacing is atomic and complete: the second body wins whole.
    const smaller = Buffer.from('replaced');
    expect((await call(agent, 'PUT', AGENT_PATHS.files, { path: 'files/out/data.bin' }, smaller)).status).toBe(201);
    const again = await call(agent, 'GET', AGENT_PATHS.files, { path: 'files/out/data.bin' });
    expect(await again.text()).toBe('replaced');
    const empty = await call(agent, 'PUT', AGENT_PATHS.files, { path: 'files/empty' }, new Uint8Array(0));
    expect(((await empty.json()) as AgentFileWritten).size).toBe(0);
    expect(
      (await (await call(agent, 'GET', AGENT_PATHS.files, { path: 'files/empty' })).arrayBuffer()).byteLength,
    ).toBe(0);

    const listed = (await (
      await call(agent, 'GET', AGENT_PATHS.filesList, { dir: 'files/out' })
    ).json()) as AgentFileList;
    expect(listed).toEqual({
      files: [{ path: 'files/out/data.bin', size: smaller.length, modifiedAt: expect.any(String) }],
      truncated: false,
    });
    const all = (await (await call(agent, 'GET', AGENT_PATHS.filesList)).json()) as AgentFileList;
    expect(all.files.map((f) => f.path)).toEqual(expect.arrayContaining(['files/empty', 'files/out/data.bin']));
    // Nothing of the profile or the agent's own files, and no half-written upload.
    expect(all.files.every((f) => /^(files|downloads)\//.test(f.path))).toBe(true);

    expect((await call(agent, 'GET', AGENT_PATHS.files, { path: 'files/nothing' })).status).toBe(404);
    expect((await call(agent, 'GET', AGENT_PATHS.files, { path: 'files/out' })).status).toBe(400);
    expect((await call(agent, 'GET', AGENT_PATHS.filesList, { dir: 'files/nothing' })).status).toBe(404);
    expect((await call(agent, 'PUT', AGENT_PATHS.files, { path: 'files/out' }, smaller)).status).toBe(400);
    expect((await call({ ...agent, token: 'x'.repeat(48) }, 'GET', AGENT_PATHS.filesList)).status).toBe(401);
  });

  it('refuses a body over the size limit with 413, declared or streamed, and keeps nothing of it', async () => {
    const declared = await call(
      agent,
      'PUT',
      AGENT_PATHS.files,
      { path: 'files/big' },
      randomBytes(MAX_FILE_BYTES + 1),
    );
    expect(declared.status).toBe(413);
    // Chunked, so the agent learns the size only while reading.
    const chunk = randomBytes(256 * 1024);
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent > MAX_FILE_BYTES * 2) return controller.close();
        sent += chunk.length;
        controller.enqueue(chunk);
      },
    });
    const streamed = await call(agent, 'PUT', AGENT_PATHS.files, { path: 'files/big' }, stream).catch(
      (error: Error) => error,
    );
    // The agent answers 413 and closes while the client still sends; fetch reports whichever it saw first.
    if (streamed instanceof Response) expect(streamed.status).toBe(413);
    expect((await call(agent, 'GET', AGENT_PATHS.files, { path: 'files/big' })).status).toBe(404);
    expect(readdirSync(join(agent.workDir, '.incoming'))).toEqual([]);
  });

  it('refuses traversal, paths outside the area, control characters and symlinks that lead out, with 400', async () => {
    symlinkSync('/etc/passwd', join(agent.workDir, 'files', 'passwd'));
    symlinkSync(join(agent.workDir, 'user-data'), join(agent.workDir, 'files', 'profile'));
    const refused = [
      ['GET', '../agent.json'],
      ['GET', 'files/../user-data/Default/Preferences'],
      ['GET', '/etc/passwd'],
      ['GET', join(agent.workDir, 'user-data/Default/Preferences')],
      ['GET', 'user-data/Default/Preferences'],
      ['GET', 'files/a\0b'],
      ['GET', 'files/passwd'],
      ['GET', 'files/profile/Default/Preferences'],
      ['PUT', 'files/profile/Default/Preferences'],
      ['PUT', 'files/profile/new/x'],
      ['PUT', '../x'],
      ['PUT', '/tmp/x'],
      ['PUT', 'downloads/planted.bin'],
    ] as const;
    for (const [method, path] of refused) {
      const response = await call(agent, method, AGENT_PATHS.files, { path }, method === 'PUT' ? 'x' : undefined);
      expect({ method, path, status: response.status }).toEqual({ method, path, status: 400 });
      expect(((await response.json()) as { error: string }).error).toEqual(expect.any(String));
    }
    expect((await call(agent, 'GET', AGENT_PATHS.filesList, { dir: 'files/profile' })).status).toBe(400);
    expect((await call(agent, 'GET', AGENT_PATHS.filesList, { dir: '..' })).status).toBe(400);
    // Listings skip symlinks rather than follow them.
    const listed = (await (await call(agent, 'GET', AGENT_PATHS.filesList, { dir: 'files' })).json()) as AgentFileList;
    expect(listed.files.map((f) => f.path)).not.toEqual(expect.arrayContaining(['files/passwd']));
    expect(readFileSync(join(agent.workDir, 'user-data/Default/Preferences'), 'utf8')).not.toBe('x');
  });
});

describe('browser-runtime downloads', () => {
  let agent: Agent;
  beforeAll(async () => {
    agent = await startAgent();
  });
  afterAll(async () => {
    await shutdown(agent);
  });

  async function downloadsListed(): Promise<string[]> {
    const response = await call(agent, 'GET', AGENT_PATHS.filesList, { dir: 'downloads' });
    return ((await response.json()) as AgentFileList).files.map((file) => file.path).sort();
  }

  async function expectKept(event: AgentEvent): Promise<AgentDownloadCompleted> {
    const data = event.data as unknown as AgentDownloadCompleted;
    expect(data).toMatchObject({
      suggestedFilename: 'quarterly report.bin',
      size: site.download.length,
      sha256: sha256(site.download),
      // No query string: signed URLs keep their secrets there.
      url: `${site.url}/report`,
    });
    const response = await call(agent, 'GET', AGENT_PATHS.files, { path: data.path });
    expect(response.status).toBe(200);
    expect(sha256(Buffer.from(await response.arrayBuffer()))).toBe(sha256(site.download));
    return data;
  }

  it('keeps a download of a plain CDP client in downloads/ and reports it', async () => {
    const socket = await CdpSession.connect(agent.cdpUrl);
    const { targetId } = await socket.send<{ targetId: string }>('Target.createTarget', {
      url: `${site.url}/report?token=s3cret`,
    });
    const event = await waitForEvent(agent, (e) => e.type === 'download.completed');
    socket.close();
    const data = await expectKept(event);
    // The agent's own setting has Chromium name it by guid; the agent gives it the suggested name.
    expect(data.path).toBe('downloads/quarterly report.bin');
    expect(await downloadsListed()).toEqual(['downloads/quarterly report.bin']);
    expect(data.targetId).toBe(targetId);
    // Chromium closes a tab whose only navigation became a download, recorder or not (recording.int-spec): a tab
    // left open, empty, would keep the next test's connectOverCDP waiting for that page until it timed out.
    await waitForEvent(agent, (e) => e.type === 'page.closed' && e.data['targetId'] === targetId);
  });

  it("keeps Playwright's downloads, default and new contexts, without taking them from Playwright", async () => {
    const seen = new Set<string>();
    const guidOf = (event: AgentEvent) => (event.data as unknown as AgentDownloadCompleted).guid;
    seen.add(guidOf(await waitForEvent(agent, (e) => e.type === 'download.completed')));
    const browser = await connect(agent);
    for (const context of [browser.contexts()[0], await browser.newContext()]) {
      const page = await context.newPage();
      await page.goto(site.url);
      const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
      expect(download.suggestedFilename()).toBe('quarterly report.bin');
      // Playwright still has its own file, in the folder it set for the context, outside the work area...
      const own = await download.path();
      expect(own.startsWith(agent.workDir)).toBe(false);
      expect(sha256(readFileSync(own))).toBe(sha256(site.download));
      // ...and the agent has its own, in the work area: linked there, since the file lies outside it.
      const event = await waitForEvent(agent, (e) => e.type === 'download.completed' && !seen.has(guidOf(e)));
      seen.add(guidOf(event));
      const data = await expectKept(event);
      // The same suggested name again: made unique, as Chrome does.
      expect(data.path).toBe(`downloads/quarterly report (${seen.size - 1}).bin`);
      expect(data.targetId).toEqual(expect.any(String));
      await page.close();
    }
    await disconnect(browser);

    // Chromium resets what a client configured when it leaves, to the profile's preferences (chromium.ts): the
    // next download still lands in downloads/, under the name the site suggested.
    const socket = await CdpSession.connect(agent.cdpUrl);
    await socket.send('Target.createTarget', { url: `${site.url}/report` });
    const event = await waitForEvent(agent, (e) => e.type === 'download.completed' && !seen.has(guidOf(e)));
    socket.close();
    expect((await expectKept(event)).path).toBe('downloads/quarterly report (3).bin');
    // What a tenant lists is what the events named: every file under its suggested name, nothing by guid.
    expect(await downloadsListed()).toEqual([
      'downloads/quarterly report (1).bin',
      'downloads/quarterly report (2).bin',
      'downloads/quarterly report (3).bin',
      'downloads/quarterly report.bin',
    ]);
  });

  it('cancels a download over the size limit and reports it failed', async () => {
    const socket = await CdpSession.connect(agent.cdpUrl);
    await socket.send('Target.createTarget', { url: `${site.url}/huge` });
    const event = await waitForEvent(agent, (e) => e.type === 'download.failed');
    socket.close();
    expect(event.data).toMatchObject({ reason: 'too_large', suggestedFilename: 'huge.bin', url: `${site.url}/huge` });
    const guid = (event.data as { guid: string }).guid;
    const listed = (await (
      await call(agent, 'GET', AGENT_PATHS.filesList, { dir: 'downloads' })
    ).json()) as AgentFileList;
    expect(listed.files.filter((f) => f.path.includes(guid))).toEqual([]);
    expect(site.hugeFinished()).toBe(false);
  });
});
