import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A small site on 127.0.0.1 for the browsers under test to visit: a page with a button, and a second page. */
export interface TestSite {
  url: string;
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
  '/second': `<!doctype html><html><head><title>Second page</title></head><body><p id="second">second page</p></body></html>`,
};

export async function startTestSite(): Promise<TestSite> {
  const server: Server = createServer((req, res) => {
    const page = PAGES[(req.url ?? '/').split('?')[0] as string];
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
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
