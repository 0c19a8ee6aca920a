import { once } from 'node:events';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create } from '@bufbuild/protobuf';
import { storageV1 } from '@bctrl/contracts';
import { waitFor } from '@bctrl/testing';
import { putToTarget } from './source';

describe('putToTarget', () => {
  let dir: string;
  let server: Server;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bctrl-put-target-'));
    // What a runtime agent does with a path outside its work area: a 400 at once, the body never read.
    server = createServer((_req, res) => {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'outside the work area' }));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
  });

  afterAll(async () => {
    server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('closes the file it was sending once the target refused it unread, and rejects with the refusal', async () => {
    // Larger than the socket buffers, so the refusal arrives while most of the file is still unread.
    const size = 8 * 1024 * 1024;
    const file = join(dir, 'body.bin');
    await writeFile(file, Buffer.alloc(size, 1));
    const handle = await open(file, 'r');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/files?path=/etc/cron.d/x`;

    const target = create(storageV1.ArtifactSourceSchema, { url });

    await expect(putToTarget(target, handle.createReadStream(), size)).rejects.toMatchObject({
      code: 'validation_failed',
      details: [{ field: 'target', issue: 'outside the work area' }],
    });
    // Closing is asynchronous; a second is ample. A leaked handle stays open until the GC closes it, which Node 26
    // turns into an uncaught ERR_INVALID_STATE (it took down the local-mode e2e run under Node 26).
    await waitFor('the file to be closed', () => (handle.fd === -1 ? true : undefined), 1000, 20);
  });
});
