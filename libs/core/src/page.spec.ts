import { BctrlError } from './errors';
import { decodeCursor, encodeCursor, toPage } from './page';

/** Runs `work` and returns the BctrlError it throws, failing the test if it throws nothing or something else. */
function thrownBy(work: () => unknown): BctrlError {
  try {
    work();
  } catch (error) {
    expect(error).toBeInstanceOf(BctrlError);
    return error as BctrlError;
  }
  throw new Error('expected a BctrlError, nothing was thrown');
}

function expectCursorRejected(cursor: string) {
  const error = thrownBy(() => decodeCursor(cursor));
  expect(error.code).toBe('validation_failed');
  expect(error.status).toBe(400);
  expect(error.details).toEqual([{ field: 'cursor', issue: expect.any(String) }]);
}

const b64 = (value: unknown) =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

describe('cursors', () => {
  const position = { createdAt: new Date('2026-03-04T05:06:07.089Z'), id: 'spc_0123456789ABCDEFGHIJabcd' };

  it('round-trips a position through encode and decode', () => {
    const cursor = encodeCursor(position);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(cursor)).toEqual(position);
  });

  it('keeps millisecond precision, which the (createdAt, id) tie-break depends on', () => {
    const decoded = decodeCursor(encodeCursor({ createdAt: new Date(1_700_000_000_123), id: 'x' }));
    expect(decoded.createdAt.getTime()).toBe(1_700_000_000_123);
  });

  it('rejects a tampered cursor (a character changed so the JSON no longer parses)', () => {
    const cursor = encodeCursor(position);
    // Changing the first character alters the opening `{` of the JSON.
    const tampered = (cursor[0] === 'A' ? 'B' : 'A') + cursor.slice(1);
    expectCursorRejected(tampered);
  });

  it('rejects a truncated cursor', () => {
    const cursor = encodeCursor(position);
    expectCursorRejected(cursor.slice(0, cursor.length - 5));
    expectCursorRejected(cursor.slice(0, 3));
  });

  it('rejects text that is not base64url', () => {
    expectCursorRejected('abc+def/');
    expectCursorRejected('abc=');
    expectCursorRejected('has space');
    expectCursorRejected('');
  });

  it('rejects well-formed base64url JSON of the wrong shape', () => {
    expectCursorRejected(b64('null'));
    expectCursorRejected(b64('"a string"'));
    expectCursorRejected(b64(42));
    expectCursorRejected(b64({ i: 'spc_1' }));
    expectCursorRejected(b64({ t: position.createdAt.toISOString() }));
    expectCursorRejected(b64({ t: 5, i: 'spc_1' }));
    expectCursorRejected(b64({ t: position.createdAt.toISOString(), i: 7 }));
    expectCursorRejected(b64({ t: position.createdAt.toISOString(), i: '' }));
    expectCursorRejected(b64({ t: position.createdAt.toISOString(), i: 'x'.repeat(65) }));
    expectCursorRejected(b64({ t: 'not a date', i: 'spc_1' }));
  });

  it('rejects a cursor longer than 512 characters even when it would decode', () => {
    const long = encodeCursor({ createdAt: position.createdAt, id: 'x'.repeat(64) });
    const padded = b64({ t: position.createdAt.toISOString(), i: 'x', pad: 'y'.repeat(600) });
    expect(padded.length).toBeGreaterThan(512);
    expect(decodeCursor(long).id).toBe('x'.repeat(64));
    expectCursorRejected(padded);
  });
});

describe('toPage', () => {
  const rows = Array.from({ length: 5 }, (_, n) => ({
    id: `row_${n}`,
    createdAt: new Date(1_700_000_000_000 - n * 1000),
  }));
  const render = (row: { id: string }) => row.id;

  it('gives a cursor naming the last returned row when there are more rows than the limit', () => {
    const page = toPage(rows.slice(0, 3), 2, render);
    expect(page.data).toEqual(['row_0', 'row_1']);
    expect(page.nextCursor).not.toBeNull();
    expect(decodeCursor(page.nextCursor as string)).toEqual({ id: 'row_1', createdAt: rows[1].createdAt });
  });

  it('gives no cursor when the rows fit in the limit exactly', () => {
    const page = toPage(rows.slice(0, 2), 2, render);
    expect(page.data).toEqual(['row_0', 'row_1']);
    expect(page.nextCursor).toBeNull();
  });

  it('gives no cursor for fewer rows than the limit, nor for no rows', () => {
    expect(toPage(rows.slice(0, 1), 2, render)).toEqual({ data: ['row_0'], nextCursor: null });
    expect(toPage([], 2, render)).toEqual({ data: [], nextCursor: null });
  });

  it('renders each returned row through the render function', () => {
    expect(toPage(rows, 10, (row) => ({ upper: row.id.toUpperCase() })).data[4]).toEqual({ upper: 'ROW_4' });
  });
});
