import type { AiProvider } from '@bctrl/contracts';
import { type ScriptedModelServer, startScriptedModelServer } from '@bctrl/testing';
import { probeModel } from './models';

const KEY = 'sk-scripted-0123456789abcdef';

describe('probeModel against scripted OpenAI Chat Completions and Anthropic Messages servers', () => {
  let server: ScriptedModelServer;
  beforeAll(async () => (server = await startScriptedModelServer({ apiKey: KEY })));
  afterAll(() => server.stop());

  const access = (provider: AiProvider, apiKey = KEY) => ({
    provider,
    model: `${provider}-model`,
    baseUrl: server.baseUrl,
    apiKey,
  });

  it.each<[AiProvider, 'openai' | 'anthropic']>([
    ['openai', 'openai'],
    ['openai-compatible', 'openai'],
    ['anthropic', 'anthropic'],
  ])('reaches a %s model with one tiny, unretried call, over its protocol', async (provider, protocol) => {
    const before = server.requests.length;
    const result = await probeModel(access(provider));
    expect(result).toEqual({ ok: true, model: `${provider}-model`, latencyMs: expect.any(Number) });
    const sent = server.requests.slice(before);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ protocol, model: `${provider}-model`, authorized: true });
    // One output token at most: a test call must cost next to nothing.
    expect(sent[0]?.body).toMatchObject({ max_tokens: 1 });
  });

  it.each<AiProvider>(['openai', 'anthropic'])(
    'answers %s refusing the key with the provider status and message, and never the key',
    async (provider) => {
      const wrong = 'sk-wrong-key-that-must-not-show-anywhere';
      const result = await probeModel(access(provider, wrong));
      expect(result).toMatchObject({ ok: false, status: 401 });
      expect(JSON.stringify(result)).not.toContain(wrong);
      expect(JSON.stringify(result)).not.toContain(KEY);
    },
  );

  it('answers a 429 at once with the provider status, without retrying', async () => {
    server.script({ kind: 'rate_limited' });
    const before = server.requests.length;
    const result = await probeModel(access('anthropic'));
    expect(result).toMatchObject({ ok: false, status: 429, message: expect.stringContaining('rate limit') });
    expect(server.requests.length - before).toBe(1);
  });

  it('answers an unreachable server with no status and a reason', async () => {
    const result = await probeModel({ ...access('openai-compatible'), baseUrl: 'http://127.0.0.1:9/v1' });
    expect(result).toMatchObject({ ok: false, status: null, message: expect.any(String) });
  });
});
