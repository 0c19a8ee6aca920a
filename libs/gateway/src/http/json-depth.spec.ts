import { jsonDepthExceeds } from './json-depth';

const nested = (levels: number, open = '[', close = ']') => open.repeat(levels) + close.repeat(levels);

describe('jsonDepthExceeds', () => {
  it('allows bodies up to the limit and refuses one level more', () => {
    expect(jsonDepthExceeds(nested(5), 5)).toBe(false);
    expect(jsonDepthExceeds(nested(6), 5)).toBe(true);
    expect(jsonDepthExceeds('{"a":{"b":{"c":[1,2,{"d":3}]}}}', 5)).toBe(false);
    expect(jsonDepthExceeds('{"a":{"b":{"c":[1,2,{"d":{"e":[]}}]}}}', 5)).toBe(true);
  });

  it('counts siblings once, not their sum', () => {
    expect(jsonDepthExceeds(`[${Array.from({ length: 1000 }, () => '[[]]').join(',')}]`, 3)).toBe(false);
  });

  it('ignores brackets inside strings, escaped quotes included', () => {
    expect(jsonDepthExceeds(JSON.stringify({ text: '[[[[[[[[{{{{{{' }), 2)).toBe(false);
    expect(jsonDepthExceeds(JSON.stringify({ text: 'say \\"[[[[[[" and "{{{{"' }), 2)).toBe(false);
    expect(jsonDepthExceeds(`{"a":"\\\\","b":[[[[]]]]}`, 3)).toBe(true);
  });

  it('finds the depth of a body of 3,000 levels, the one that overflowed validation', () => {
    expect(jsonDepthExceeds(nested(3000, '{"a":', '}').replace(/\{"a":\}/, '{"a":1}'), 128)).toBe(true);
  });
});
