import { jsonBodyProblem } from './json-depth';

const nested = (levels: number, open = '[', close = ']') => open.repeat(levels) + close.repeat(levels);

describe('jsonBodyProblem: depth', () => {
  it('allows bodies up to the limit and refuses one level more', () => {
    expect(jsonBodyProblem(nested(5), 5)).toBeNull();
    expect(jsonBodyProblem(nested(6), 5)).toBe('too_deep');
    expect(jsonBodyProblem('{"a":{"b":{"c":[1,2,{"d":3}]}}}', 5)).toBeNull();
    expect(jsonBodyProblem('{"a":{"b":{"c":[1,2,{"d":{"e":[]}}]}}}', 5)).toBe('too_deep');
  });

  it('counts siblings once, not their sum', () => {
    expect(jsonBodyProblem(`[${Array.from({ length: 1000 }, () => '[[]]').join(',')}]`, 3)).toBeNull();
  });

  it('ignores brackets inside strings, escaped quotes included', () => {
    expect(jsonBodyProblem(JSON.stringify({ text: '[[[[[[[[{{{{{{' }), 2)).toBeNull();
    expect(jsonBodyProblem(JSON.stringify({ text: 'say \\"[[[[[[" and "{{{{"' }), 2)).toBeNull();
    expect(jsonBodyProblem(`{"a":"\\\\","b":[[[[]]]]}`, 3)).toBe('too_deep');
  });

  it('finds the depth of a body of 3,000 levels, the one that overflowed validation', () => {
    expect(jsonBodyProblem(nested(3000, '{"a":', '}').replace(/\{"a":\}/, '{"a":1}'), 128)).toBe('too_deep');
  });
});

describe('jsonBodyProblem', () => {
  it('finds a NUL escaped in any string, key or value, and nothing in a body without one', () => {
    expect(jsonBodyProblem(JSON.stringify({ name: 'n', metadata: { k: 'a\u0000b' } }), 128)).toBe('nul');
    expect(jsonBodyProblem(JSON.stringify({ ['k\u0000']: 1 }), 128)).toBe('nul');
    expect(jsonBodyProblem(JSON.stringify({ name: 'plain', note: 'tab\tand\u0001' }), 128)).toBeNull();
  });

  it('does not take an escaped backslash followed by "u0000" for a NUL', () => {
    expect(JSON.parse(JSON.stringify({ path: '\\u0000' })).path).toBe('\\u0000');
    expect(jsonBodyProblem(JSON.stringify({ path: '\\u0000' }), 128)).toBeNull();
  });
});
