import { BctrlError, ERROR_STATUS, ErrorCode } from './errors';

describe('BctrlError', () => {
  // API.md's table of codes and statuses, written out so a changed mapping fails here.
  const expected: Record<ErrorCode, number> = {
    validation_failed: 400,
    unauthenticated: 401,
    budget_exceeded: 402,
    forbidden: 403,
    not_found: 404,
    conflict: 409,
    invalid_state: 409,
    payload_too_large: 413,
    range_not_satisfiable: 416,
    unsupported_media_type: 415,
    ai_connection_failed: 422,
    rate_limited: 429,
    internal: 500,
    unavailable: 503,
  };

  it('maps exactly the documented codes', () => {
    expect(Object.keys(ERROR_STATUS).sort()).toEqual(Object.keys(expected).sort());
  });

  it.each(Object.entries(expected))('gives %s the status %i', (code, status) => {
    expect(new BctrlError(code as ErrorCode, 'm').status).toBe(status);
  });

  it('is an Error with its message, name, code and details', () => {
    const error = new BctrlError('conflict', 'taken', [{ field: 'name', issue: 'taken' }]);
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('BctrlError');
    expect(error.message).toBe('taken');
    expect(error.details).toEqual([{ field: 'name', issue: 'taken' }]);
    expect(new BctrlError('internal', 'x').details).toEqual([]);
  });

  it('recognises only its own codes, not inherited object keys', () => {
    expect(BctrlError.isCode('not_found')).toBe(true);
    expect(BctrlError.isCode('teapot')).toBe(false);
    expect(BctrlError.isCode('toString')).toBe(false);
    expect(BctrlError.isCode('__proto__')).toBe(false);
  });

  it('builds not_found and validation_failed errors', () => {
    const missing = BctrlError.notFound('space');
    expect([missing.code, missing.status, missing.message]).toEqual(['not_found', 404, 'No such space.']);
    const invalid = BctrlError.validation([{ field: 'limit', issue: 'too big' }]);
    expect([invalid.code, invalid.status]).toEqual(['validation_failed', 400]);
    expect(invalid.details).toEqual([{ field: 'limit', issue: 'too big' }]);
  });
});
