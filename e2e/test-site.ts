import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A small site on 127.0.0.1 for the browsers under test to visit: a page with a button, and a second page. */
export interface TestSite {
  url: string;
  /** What `/file.bin` serves (as a download) and its sha256. */
  download: { bytes: Buffer; sha256: string };
  /** The sha256 and size of each body POSTed to `/upload`, in order. */
  uploads: Array<{ name: string; size: number; sha256: string }>;
  close(): Promise<void>;
}

const PAGES: Record<string, string> = {
  '/': `<!doctype html><html><head><title>BCTRL test page</title></head><body>
<h1 id="title">Hello from the test site</h1>
<button id="go" onclick="document.getElementById('out').textContent = 'clicked ' + (++window.clicks)">Go</button>
<div id="out"></div>
<a id="next" href="/second">next</a>
<script>window.clicks = 0;</script>
</body></html>`,
  // For the live view: something to click and type into at known places, and a ticker that keeps the page changing.
  '/live': `<!doctype html><html><head><title>Live test page</title><style>body{margin:0;font:16px sans-serif}
#press{position:absolute;left:40px;top:40px;width:200px;height:80px}#name{position:absolute;left:40px;top:160px;width:300px}</style></head><body>
<button id="press" onclick="document.getElementById('presses').textContent = String(++window.presses)">Press</button>
<input id="name" autocomplete="off"><div id="presses" style="position:absolute;left:300px;top:40px">0</div>
<div id="tick" style="position:absolute;left:40px;top:220px">0</div>
<script>window.presses = 0; let n = 0; setInterval(() => { document.getElementById('tick').textContent = String(++n); }, 50);</script>
</body></html>`,
  // A file input whose file the page sends back to this server as it is.
  '/upload-page': `<!doctype html><html><head><title>Upload</title></head><body>
<input type="file" id="file"><div id="sent"></div>
<script>document.getElementById('file').addEventListener('change', async (event) => {
  const file = event.target.files[0];
  const res = await fetch('/upload?name=' + encodeURIComponent(file.name), { method: 'POST', body: file });
  document.getElementById('sent').textContent = await res.text();
});</script></body></html>`,
  '/download-page': `<!doctype html><html><head><title>Download</title></head><body>
<a id="get" href="/file.bin">get the file</a></body></html>`,
  '/second': `<!doctype html><html><head><title>Second page</title></head><body><p id="second">second page</p></body></html>`,
};

export async function startTestSite(): Promise<TestSite> {
  const bytes = randomBytes(300 * 1024);
  const download = { bytes, sha256: createHash('sha256').update(bytes).digest('hex') };
  const uploads: TestSite['uploads'] = [];
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] as string;
    if (path === '/file.bin') {
      res.writeHead(200, {
        'content-type': 'application/octet-stream',
        'content-disposition': 'attachment; filename="quarterly report.bin"',
        'content-length': bytes.length,
      });
      res.end(bytes);
      return;
    }
    if (path === '/upload' && req.method === 'POST') {
      const hash = createHash('sha256');
      let size = 0;
      req.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        size += chunk.length;
      });
      req.on('end', () => {
        const name = new URL(req.url ?? '', 'http://site').searchParams.get('name') ?? '';
        uploads.push({ name, size, sha256: hash.digest('hex') });
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(`received ${size}`);
      });
      return;
    }
    const page = PAGES[path];
    if (!page) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(page);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    download,
    uploads,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
