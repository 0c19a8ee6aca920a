import { RangeNotSatisfiable, resolveRange } from './byte-range';

describe('resolveRange', () => {
  it.each([
    ['bytes=0-99', 1000, { start: 0, end: 99 }],
    ['bytes=900-', 1000, { start: 900, end: 999 }],
    ['bytes=-100', 1000, { start: 900, end: 999 }],
    ['bytes=-5000', 1000, { start: 0, end: 999 }],
    ['bytes=990-5000', 1000, { start: 990, end: 999 }],
  ])('reads %s of %i bytes', (header, size, range) => {
    expect(resolveRange(header, size)).toEqual(range);
  });

  it.each([undefined, '', 'bytes=0-1,5-6', 'items=0-5', 'bytes=5-2', 'bytes=-', 'garbage'])(
    'ignores %j and serves the whole object',
    (header) => {
      expect(resolveRange(header, 1000)).toBeNull();
    },
  );

  it.each([
    ['bytes=1000-', 1000],
    ['bytes=5000-6000', 1000],
    ['bytes=-0', 1000],
    ['bytes=0-', 0],
  ])('refuses %s of %i bytes with a 416 that knows the size', (header, size) => {
    expect(() => resolveRange(header, size)).toThrow(RangeNotSatisfiable);
    try {
      resolveRange(header, size);
    } catch (error) {
      expect((error as RangeNotSatisfiable).objectSize).toBe(size);
      expect((error as RangeNotSatisfiable).status).toBe(416);
    }
  });
});
