import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { generateApiKey } from '@bctrl/core';
import { freePort } from '@bctrl/testing';
import { type Platform, removeLocalDataDir, spawnApp, startDistributedPlatform, waitForHttp } from './platform';

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;
/** API.md's budget for a 1 GiB transfer, whatever the process. */
const MAX_GROWTH = 64 * MIB;

const signed = (mib: number) => `${mib >= 0 ? '+' : ''}${mib.toFixed(1)}`;

function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

/** The largest RSS of each process while `work` runs, sampled every 20 ms. */
async function peakRss<T>(pids: number[], work: () => Promise<T>): Promise<{ peaks: number[]; result: T }> {
  const peaks = pids.map(rssOf);
  const sample = () => pids.forEach((pid, i) => (peaks[i] = Math.max(peaks[i] as number, rssOf(pid))));
  const timer = setInterval(sample, 20);
  try {
    const result = await work();
    sample();
    return { peaks, result };
  } finally {
    clearInterval(timer);
  }
}

/** `total` bytes made on the fly (never held whole), and their sha256 once sent. */
function generated(total: number) {
  const block = Buffer.alloc(MIB);
  for (let i = 0; i < block.length; i += 4) block.writeUInt32LE((i * 2654435761) >>> 0, i);
  const hash = createHash('sha256');
  let sent = 0;
  const stream = new Readable({
    read() {
      if (sent >= total) return void this.push(null);
      const chunk = Buffer.from(block.subarray(0, Math.min(MIB, total - sent)));
      chunk.writeUInt32LE(sent / MIB, 0);
      sent += chunk.length;
      hash.update(chunk);
      this.push(chunk);
    },
  });
  return { stream, sha256: () => hash.digest('hex') };
}

function put(base: string, path: string, key: string, total: number) {
  const source = generated(total);
  return new Promise<{ status: number; body: { size: number; sha256: string }; sent: string }>((resolve, reject) => {
    const url = new URL(path, base);
    const req = httpRequest(
      url,
      { method: 'PUT', headers: { authorization: `Bearer ${key}`, 'content-length': String(total) } },
      (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text), sent: source.sha256() }));
      },
    );
    req.on('error', reject);
    source.stream.pipe(req);
  });
}

function get(base: string, path: string, key: string) {
  return new Promise<{ status: number; size: number; sha256: string }>((resolve, reject) => {
    const req = httpRequest(new URL(path, base), { headers: { authorization: `Bearer ${key}` } }, (res) => {
      const hash = createHash('sha256');
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        hash.update(chunk);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, size, sha256: hash.digest('hex') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * Warms up (JIT, pools, connections) so the baseline is the platform at work, then PUTs and GETs 1 GiB, checking the
 * bytes by sha256 and the peak RSS of each named process against its baseline.
 */
async function expectBoundedTransfer(base: string, key: string, processes: Record<string, number>): Promise<void> {
  const created = await fetch(`${base}/v1/spaces`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'memory' }),
  });
  const space = (await created.json()) as { id: string };
  // Stated, so that a failure names its cause rather than surfacing later as a 404 on `spaces/undefined`.
  expect({ status: created.status, space }).toMatchObject({ status: 201, space: { id: expect.any(String) } });
  const path = (name: string) => `/v1/spaces/${space.id}/storage/${name}`;
  expect(await put(base, path('warm.bin'), key, 64 * MIB)).toMatchObject({ status: 200 });
  await get(base, path('warm.bin'), key);
  const names = Object.keys(processes);
  const pids = Object.values(processes);
  const baselines = pids.map(rssOf);

  const upload = await peakRss(pids, () => put(base, path('big.bin'), key, GIB));
  expect(upload.result).toMatchObject({ status: 200 });
  expect(upload.result.body).toMatchObject({ size: GIB, sha256: upload.result.sent });

  const download = await peakRss(pids, () => get(base, path('big.bin'), key));
  expect(download.result).toEqual({ status: 200, size: GIB, sha256: upload.result.sent });

  const growth = names.map((name, i) => ({
    name,
    baseline: Math.round((baselines[i] as number) / MIB),
    upload: ((upload.peaks[i] as number) - (baselines[i] as number)) / MIB,
    download: ((download.peaks[i] as number) - (baselines[i] as number)) / MIB,
  }));
  process.stdout.write(
    `storage memory (MiB): ${growth.map((g) => `${g.name} baseline ${g.baseline}, upload ${signed(g.upload)}, download ${signed(g.download)}`).join('; ')}\n`,
  );
  for (const g of growth) {
    expect({ process: g.name, upload: g.upload < MAX_GROWTH / MIB, download: g.download < MAX_GROWTH / MIB }).toEqual({
      process: g.name,
      upload: true,
      download: true,
    });
  }
}

describe('space storage streams: a 1 GiB upload and download grow the local platform by less than 64 MiB', () => {
  let child: ChildProcess;
  let output = '';
  let base: string;
  let dataDir: string;
  const key = generateApiKey();

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'bctrl-e2e-memory-'));
    const port = await freePort();
    // The built local app, as `npm start` runs it: its RSS is the whole platform's but Postgres's own processes.
    child = spawnApp('local', {
      BCTRL_DATA_DIR: dataDir,
      BCTRL_PORT: String(port),
      BCTRL_BOOTSTRAP_API_KEY: key,
      BCTRL_STORAGE_MAX_OBJECT_BYTES: '2gib',
      BCTRL_RATE_LIMIT_PER_SECOND: '0',
      LOG_LEVEL: 'warn',
    });
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    base = `http://127.0.0.1:${port}`;
    await waitForHttp(`${base}/readyz`, child, () => output, 90_000);
  }, 120_000);

  afterAll(async () => {
    if (child && child.exitCode === null) {
      await new Promise<void>((done) => {
        const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        child.once('exit', () => {
          clearTimeout(timer);
          done();
        });
        child.kill('SIGTERM');
      });
    }
    removeLocalDataDir(dataDir);
  }, 30_000);

  it('PUTs and GETs 1 GiB with identical sha256 while the process grows by less than 64 MiB', async () => {
    await expectBoundedTransfer(base, key, { local: child.pid as number });
  }, 300_000);
});

describe('space storage streams in distributed mode: gateway and storage each grow by less than 64 MiB for 1 GiB', () => {
  let platform: Platform;

  beforeAll(async () => {
    platform = await startDistributedPlatform({ BCTRL_STORAGE_MAX_OBJECT_BYTES: '2gib' });
  }, 180_000);

  afterAll(async () => {
    await platform?.stop();
  }, 60_000);

  it('PUTs 1 GiB through the gateway into S3 (multipart) and GETs it back with identical sha256', async () => {
    await expectBoundedTransfer(platform.url, platform.adminKey, {
      gateway: platform.pidOf?.('gateway') as number,
      storage: platform.pidOf?.('storage') as number,
    });
  }, 600_000);
});
