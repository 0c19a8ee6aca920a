import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { storageV1 } from '@bctrl/contracts';
import { BctrlError } from '@bctrl/core';

/** How long a source or target may take to start answering; the body itself may take as long as it takes. */
const ANSWER_TIMEOUT_MS = 30_000;
/** A target's answer is a small JSON document (an agent's AgentFileWritten); anything longer is cut. */
const TARGET_RESPONSE_MAX = 64 * 1024;

export interface OpenedSource {
  body: Readable;
  contentType: string | null;
  contentLength: number | null;
}

/** The URL without its query or credentials: what an error may say about a source (a token never appears). */
export function describeUrl(value: string): string {
  try {
    const url = new URL(value);
    return `${url.protocol}//${url.host}${url.pathname}`;
  } catch {
    return 'an invalid URL';
  }
}

/**
 * What a runtime agent (or any source) refused, as the caller's error: its 400 names `target` with the agent's own
 * reason (the orchestrator renames the field for the tenant), 404 is a missing file, 413 too large.
 */
export function refusal(status: number, body: string, what: string): BctrlError {
  let reason = '';
  try {
    const parsed = JSON.parse(body) as { error?: unknown };
    reason = typeof parsed.error === 'string' ? parsed.error : '';
  } catch {
    reason = '';
  }
  if (status === 400) return BctrlError.validation([{ field: 'target', issue: reason || 'is not valid' }]);
  if (status === 404) return BctrlError.notFound('file');
  if (status === 413) return new BctrlError('payload_too_large', reason || `The ${what} refused a file that large.`);
  return new BctrlError('unavailable', `The ${what} answered ${status}.`);
}

/** GETs a source; resolves with its body as a stream once it answered 2xx. */
export async function openSource(source: storageV1.ArtifactSource, what = 'source'): Promise<OpenedSource> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), ANSWER_TIMEOUT_MS);
  let answer: Response;
  try {
    answer = await fetch(source.url, { headers: source.headers, signal: abort.signal, redirect: 'follow' });
  } catch {
    throw new BctrlError('unavailable', `The ${what} (${describeUrl(source.url)}) could not be reached.`);
  } finally {
    clearTimeout(timer);
  }
  if (!answer.ok || !answer.body) {
    const text = await answer.text().catch(() => '');
    throw refusal(answer.status, text, what);
  }
  const declared = Number(answer.headers.get('content-length') ?? NaN);
  return {
    body: Readable.fromWeb(answer.body as unknown as WebReadableStream<Uint8Array>),
    contentType: answer.headers.get('content-type')?.split(';')[0]?.trim() || null,
    contentLength: Number.isFinite(declared) ? declared : null,
  };
}

/** PUTs `size` bytes of `body` to a target; resolves with the target's (short) answer once it took them all. */
export function putToTarget(
  target: storageV1.ArtifactSource,
  body: Readable,
  size: number,
  what = 'target',
): Promise<string> {
  return new Promise((resolve, reject) => {
    let url: URL;
    try {
      url = new URL(target.url);
    } catch {
      reject(BctrlError.validation([{ field: 'target.url', issue: 'must be an http(s) URL' }]));
      return;
    }
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(
      url,
      {
        method: 'PUT',
        headers: { ...target.headers, 'content-type': 'application/octet-stream', 'content-length': String(size) },
        timeout: ANSWER_TIMEOUT_MS,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let length = 0;
        res.on('data', (chunk: Buffer) => {
          if (length < TARGET_RESPONSE_MAX) chunks.push(chunk);
          length += chunk.length;
        });
        res.on('end', () => {
          answered = true;
          release();
          const text = Buffer.concat(chunks).toString('utf8').slice(0, TARGET_RESPONSE_MAX);
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) resolve(text);
          else reject(refusal(status, text, what));
        });
        res.on('error', () => {
          release();
          reject(new BctrlError('unavailable', `The ${what} went away mid-answer.`));
        });
      },
    );
    // Once the target has answered, what it did not read is unwanted: a refusal (an agent checks the path first)
    // comes before the body is read, and the pipe would leave the body paused with its file open until garbage
    // collection, which Node 26 turns into an uncaught ERR_INVALID_STATE. After a 2xx the body has ended anyway.
    let answered = false;
    const release = () => {
      body.unpipe(req);
      body.destroy();
      if (!req.writableFinished) req.destroy();
    };
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', () => {
      body.destroy();
      // The socket closing after a complete answer changes nothing: that answer (a refusal, say) stands.
      if (answered) return;
      reject(new BctrlError('unavailable', `The ${what} (${describeUrl(target.url)}) could not be reached.`));
    });
    body.on('error', (error) => req.destroy(error));
    body.pipe(req);
  });
}
