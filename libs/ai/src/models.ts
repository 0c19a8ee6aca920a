import { createAnthropic } from '@ai-sdk/anthropic';
import { createOpenAI } from '@ai-sdk/openai';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { APICallError, generateText, type LanguageModel } from 'ai';
import type { AiProvider } from '@bctrl/contracts';

/** An AI connection with its key in hand (from the vault): enough to call the model. */
export interface ModelAccess {
  provider: AiProvider;
  model: string;
  /** Empty: the provider's own endpoint (required for openai-compatible). */
  baseUrl: string;
  apiKey: string;
}

/**
 * The AI SDK model for a connection. OpenAI goes through Chat Completions (what openai-compatible servers speak
 * too), not the Responses API the SDK defaults to, so one protocol serves both and a proxy or gateway in front of
 * either sees the same requests.
 */
export function languageModel(access: ModelAccess): LanguageModel {
  const baseURL = access.baseUrl || undefined;
  switch (access.provider) {
    case 'openai':
      return createOpenAI({ apiKey: access.apiKey, baseURL }).chat(access.model);
    case 'anthropic':
      return createAnthropic({ apiKey: access.apiKey, baseURL }).languageModel(access.model);
    case 'openai-compatible':
      return createOpenAICompatible({
        name: 'openai-compatible',
        apiKey: access.apiKey,
        baseURL: access.baseUrl,
      }).chatModel(access.model);
  }
}

export type ProbeResult =
  | { ok: true; model: string; latencyMs: number }
  | { ok: false; status: number | null; message: string; latencyMs: number };

/**
 * One tiny call (a one-token answer), no retries: does this connection reach a model that answers? The failure
 * carries the provider's status and message, never the key (the redactor masks it wherever else it might go).
 */
export async function probeModel(access: ModelAccess, timeoutMs = 10_000): Promise<ProbeResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  try {
    const result = await generateText({
      model: languageModel(access),
      prompt: 'Reply with the single word: ok',
      maxOutputTokens: 1,
      maxRetries: 0,
      abortSignal: AbortSignal.timeout(timeoutMs),
    });
    return { ok: true, model: result.response.modelId || access.model, latencyMs: elapsed() };
  } catch (error) {
    if (APICallError.isInstance(error)) {
      return { ok: false, status: error.statusCode ?? null, message: providerMessage(error), latencyMs: elapsed() };
    }
    const message = error instanceof Error ? error.message : String(error);
    return { ok: false, status: null, message, latencyMs: elapsed() };
  }
}

/** The provider's own words when its body has them (`{error: {message}}` for both protocols), else the SDK's. */
function providerMessage(error: APICallError): string {
  try {
    const body = JSON.parse(error.responseBody ?? '') as { error?: { message?: unknown } };
    if (typeof body.error?.message === 'string') return body.error.message;
  } catch {
    // not JSON: the SDK's message says what happened
  }
  return error.message;
}
