import {
  BadRequestException,
  ForbiddenException,
  HttpException,
  MethodNotAllowedException,
  NotFoundException,
} from '@nestjs/common';
import Fastify from 'fastify';
import { BctrlError } from '@bctrl/core';
import { ECHO_LIMIT, envelope, toBctrlError } from './error.filter';

/**
 * The error Fastify itself raises for a request, caught by its error handler, so the mapping is checked
 * against what the framework really throws and not against a hand-made imitation.
 */
async function fastifyErrorFor(request: { body: string; contentType: string }, bodyLimit = 1024): Promise<unknown> {
  const app = Fastify({ bodyLimit });
  let caught: unknown = null;
  app.setErrorHandler((error, _request, reply) => {
    caught = error;
    void reply.status(500).send();
  });
  app.post('/', () => ({ ok: true }));
  try {
    await app.inject({
      method: 'POST',
      url: '/',
      payload: request.body,
      headers: { 'content-type': request.contentType },
    });
  } finally {
    await app.close();
  }
  if (caught === null) throw new Error('Fastify accepted the request; expected it to fail');
  return caught;
}

describe('toBctrlError', () => {
  it('maps a body over the limit (FST_ERR_CTP_BODY_TOO_LARGE) to payload_too_large', async () => {
    const error = await fastifyErrorFor({
      body: JSON.stringify({ name: 'x'.repeat(2048) }),
      contentType: 'application/json',
    });
    expect((error as { code?: string }).code).toBe('FST_ERR_CTP_BODY_TOO_LARGE');
    const mapped = toBctrlError(error);
    expect([mapped.code, mapped.status]).toEqual(['payload_too_large', 413]);
  });

  it('maps a body of an unparsed media type (FST_ERR_CTP_INVALID_MEDIA_TYPE) to unsupported_media_type', async () => {
    const error = await fastifyErrorFor({ body: 'name=x', contentType: 'application/x-www-form-urlencoded' });
    expect((error as { code?: string }).code).toBe('FST_ERR_CTP_INVALID_MEDIA_TYPE');
    const mapped = toBctrlError(error);
    expect([mapped.code, mapped.status]).toEqual(['unsupported_media_type', 415]);
  });

  it('maps invalid JSON to validation_failed saying the body is not valid JSON', async () => {
    const error = await fastifyErrorFor({ body: '{"name": ', contentType: 'application/json' });
    const mapped = toBctrlError(error);
    expect([mapped.code, mapped.status]).toEqual(['validation_failed', 400]);
    expect(mapped.message).toBe('The request body is not valid JSON.');
  });

  it('maps a bare SyntaxError (a JSON parse outside Fastify) to validation_failed', () => {
    let syntax: unknown;
    try {
      JSON.parse('{');
    } catch (error) {
      syntax = error;
    }
    expect(toBctrlError(syntax).code).toBe('validation_failed');
  });

  it('maps Fastify codes by code alone, whatever the error object', () => {
    const tooLarge = Object.assign(new Error('Request body is too large'), { code: 'FST_ERR_CTP_BODY_TOO_LARGE' });
    expect(toBctrlError(tooLarge).code).toBe('payload_too_large');
    const media = Object.assign(new Error('Unsupported Media Type'), { code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE' });
    expect(toBctrlError(media).code).toBe('unsupported_media_type');
    const empty = Object.assign(new Error("Body cannot be empty when content-type is set to 'application/json'"), {
      code: 'FST_ERR_CTP_EMPTY_JSON_BODY',
    });
    expect(toBctrlError(empty).code).toBe('validation_failed');
  });

  it("maps Nest's 404 and 405 to not_found with a route message", () => {
    for (const error of [new NotFoundException('Cannot GET /v1/nope'), new MethodNotAllowedException()]) {
      const mapped = toBctrlError(error);
      expect([mapped.code, mapped.status, mapped.message]).toEqual(['not_found', 404, 'No such route.']);
    }
  });

  it('maps other Nest HTTP statuses to their API codes', () => {
    expect(toBctrlError(new BadRequestException('bad')).code).toBe('validation_failed');
    expect(toBctrlError(new ForbiddenException()).code).toBe('forbidden');
    expect(toBctrlError(new HttpException('slow down', 429)).code).toBe('rate_limited');
    expect(toBctrlError(new HttpException('teapot', 418)).code).toBe('internal');
  });

  it('passes a BctrlError through unchanged', () => {
    const original = new BctrlError('conflict', 'taken', [{ field: 'name', issue: 'taken' }]);
    expect(toBctrlError(original)).toBe(original);
  });

  it('maps an arbitrary error to internal with a generic message that leaks nothing of the original', () => {
    const secret = 'connect ECONNREFUSED 10.0.0.7:5432 password=hunter2';
    for (const thrown of [new Error(secret), new TypeError(secret), secret, { message: secret }, null, undefined]) {
      const mapped = toBctrlError(thrown);
      expect([mapped.code, mapped.status]).toEqual(['internal', 500]);
      expect(mapped.message).not.toContain('hunter2');
      expect(mapped.message).not.toContain('ECONNREFUSED');
      expect(mapped.message).toMatch(/request id/);
      expect(mapped.details).toEqual([]);
    }
  });
});

describe('envelope', () => {
  it("renders API.md's error envelope with the request id", () => {
    const error = BctrlError.validation([{ field: 'name', issue: 'must not be empty' }]);
    expect(envelope(error, 'req_1')).toEqual({
      error: {
        code: 'validation_failed',
        message: error.message,
        details: [{ field: 'name', issue: 'must not be empty' }],
        requestId: 'req_1',
      },
    });
  });
});

describe('envelope with a long input quoted back', () => {
  it('cuts the message, each field and each issue to the echo limit and says how much was left out', () => {
    const url = `https://example.com/${'a'.repeat(15_000)}`;
    const error = new BctrlError('validation_failed', `Not a URL: ${url}`, [
      { field: `metadata.${'k'.repeat(1000)}`, issue: `must be a URL, got ${url}` },
    ]);
    const rendered = JSON.stringify(envelope(error, 'req_1'));
    expect(rendered.length).toBeLessThan(4 * ECHO_LIMIT);
    const { message, details } = envelope(error, 'req_1').error;
    expect(message.startsWith('Not a URL: https://example.com/aaa')).toBe(true);
    expect(message).toMatch(/… \(\d+ more characters\)$/);
    expect(details[0]).toEqual({
      field: expect.stringMatching(/^metadata\.k+… \(\d+ more characters\)$/),
      issue: expect.stringMatching(/^must be a URL, got https:\/\/example\.com\/a+… \(14\d{3} more characters\)$/),
    });
  });

  it('leaves a detail without a field without one', () => {
    expect(envelope(BctrlError.validation([{ issue: 'the body must be a JSON object' }]), 'r').error.details).toEqual([
      { issue: 'the body must be a JSON object' },
    ]);
  });
});
