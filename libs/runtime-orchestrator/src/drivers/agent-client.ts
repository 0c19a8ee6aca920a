import { request } from 'node:http';
import { AGENT_PATHS } from '@bctrl/contracts';

/**
 * One call to a browser-runtime agent's HTTP API (bearer token); the answer's status and body. `signal` aborts it
 * (a long poll being stopped).
 */
export function agentRequest(
  baseUrl: string,
  token: string,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
  timeoutMs = 5_000,
  signal?: AbortSignal,
): Promise<{ status: number; body: string }> {
  // node:http rather than fetch: fetch loads undici on first use, which would land on a cold start's critical path.
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      `${baseUrl}${path}`,
      {
        method,
        timeout: timeoutMs,
        signal,
        headers: {
          authorization: `Bearer ${token}`,
          ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`agent ${method} ${path} timed out`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/**
 * Where a service that moves bytes itself (storage) reaches one file of an agent's API: the URL and the bearer
 * header, as a `storage.v1` ArtifactSource. The token travels in the header only, never in the URL.
 */
export function agentSource(agentUrl: string, token: string, path: string) {
  return { url: `${agentUrl}${path}`, headers: { authorization: `Bearer ${token}` } };
}

/** One file of the agent's work area on its file API (GET reads it, PUT writes it). */
export function agentFilePath(workAreaPath: string): string {
  return `${AGENT_PATHS.files}?path=${encodeURIComponent(workAreaPath)}`;
}
