import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the scripted server answers next, whatever was asked: a provider's own error, or a normal answer. */
export type ScriptedAnswer = { kind: 'ok'; text?: string } | { kind: 'rate_limited' } | { kind: 'server_error' };

export interface ScriptedModelRequest {
  protocol: 'openai' | 'anthropic';
  path: string;
  model: string;
  /** Whether the request carried the expected key (the key itself is not kept). */
  authorized: boolean;
  body: Record<string, unknown>;
}

export interface ScriptedModelServer {
  /** `http://127.0.0.1:<port>/v1`: the base URL for either protocol's client. */
  baseUrl: string;
  /** Requests in arrival order. */
  requests: ScriptedModelRequest[];
  /** Queues answers for the next requests (then back to `ok`). */
  script(...answers: ScriptedAnswer[]): void;
  stop(): Promise<void>;
}

/**
 * A scripted fake of two model providers' wire protocols, on loopback: OpenAI Chat Completions
 * (`POST /v1/chat/completions`, `Authorization: Bearer <key>`) and Anthropic Messages (`POST /v1/messages`,
 * `x-api-key: <key>`), with the bodies and error shapes the real services send: 401 for another key, 429 with
 * `retry-after`, 500. Not a model: every answer is scripted. The real providers cannot be reached from here.
 */
export async function startScriptedModelServer(options: { apiKey: string }): Promise<ScriptedModelServer> {
  const requests: ScriptedModelRequest[] = [];
  const queue: ScriptedAnswer[] = [];
  const server = createServer((req, res) => {
    void handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>;
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const protocol = path.endsWith('/chat/completions') ? 'openai' : path.endsWith('/messages') ? 'anthropic' : null;
    if (req.method !== 'POST' || !protocol)
      return send(res, 404, { error: { message: `No route ${req.method} ${path}` } });
    const presented =
      protocol === 'openai'
        ? (req.headers.authorization ?? '').replace(/^Bearer /, '')
        : String(req.headers['x-api-key'] ?? '');
    const authorized = presented === options.apiKey;
    const model = String(body['model'] ?? '');
    requests.push({ protocol, path, model, authorized, body });
    if (!authorized) return send(res, 401, unauthorized(protocol, presented));
    const answer = queue.shift() ?? { kind: 'ok' };
    if (answer.kind === 'rate_limited') return send(res, 429, rateLimited(protocol), { 'retry-after': '1' });
    if (answer.kind === 'server_error') return send(res, 500, serverError(protocol));
    return send(res, 200, completion(protocol, model, answer.text ?? 'ok'));
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    script: (...answers) => queue.push(...answers),
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

function unauthorized(protocol: 'openai' | 'anthropic', presented: string) {
  if (protocol === 'anthropic') {
    return { type: 'error', error: { type: 'authentication_error', message: 'invalid x-api-key' } };
  }
  // OpenAI shows the key's first and last characters; never the whole of it.
  const shown = presented.length > 8 ? `${presented.slice(0, 3)}***${presented.slice(-4)}` : '***';
  return {
    error: {
      message: `Incorrect API key provided: ${shown}. You can find your API key at https://platform.openai.com/account/api-keys.`,
      type: 'invalid_request_error',
      param: null,
      code: 'invalid_api_key',
    },
  };
}

function rateLimited(protocol: 'openai' | 'anthropic') {
  if (protocol === 'anthropic') {
    return {
      type: 'error',
      error: { type: 'rate_limit_error', message: 'Number of requests has exceeded your per-minute rate limit' },
    };
  }
  return {
    error: { message: 'Rate limit reached for requests', type: 'requests', param: null, code: 'rate_limit_exceeded' },
  };
}

function serverError(protocol: 'openai' | 'anthropic') {
  if (protocol === 'anthropic')
    return { type: 'error', error: { type: 'api_error', message: 'Internal server error' } };
  return { error: { message: 'The server had an error while processing your request.', type: 'server_error' } };
}

function completion(protocol: 'openai' | 'anthropic', model: string, text: string) {
  if (protocol === 'anthropic') {
    return {
      id: 'msg_scripted',
      type: 'message',
      role: 'assistant',
      model,
      content: [{ type: 'text', text }],
      stop_reason: 'end_turn',
      stop_sequence: null,
      usage: { input_tokens: 8, output_tokens: 1 },
    };
  }
  return {
    id: 'chatcmpl-scripted',
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 8, completion_tokens: 1, total_tokens: 9 },
  };
}
