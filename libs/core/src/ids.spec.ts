import { ID_PREFIX, idFor, IdKind, isId, newId, randomBase62 } from './ids';

const BASE62 = /^[0-9A-Za-z]+$/;

describe('newId', () => {
  it.each(Object.keys(ID_PREFIX) as IdKind[])(
    'makes a %s id of its prefix, an underscore and 24 base62 chars',
    (kind) => {
      const id = newId(kind);
      expect(id.startsWith(`${ID_PREFIX[kind]}_`)).toBe(true);
      const body = id.slice(ID_PREFIX[kind].length + 1);
      expect(body).toHaveLength(24);
      expect(body).toMatch(BASE62);
      expect(isId(kind, id)).toBe(true);
    },
  );

  it('does not repeat over many draws', () => {
    const draws = 20_000;
    const ids = new Set(Array.from({ length: draws }, () => newId('space')));
    expect(ids.size).toBe(draws);
  });

  it('uses the whole base62 alphabet (digits, upper and lower case) over many draws', () => {
    const seen = new Set(Array.from({ length: 2_000 }, () => newId('space').slice(4)).join(''));
    expect(seen.size).toBe(62);
  });
});

describe('randomBase62', () => {
  it('returns exactly the requested length in base62', () => {
    for (const length of [1, 7, 24, 40, 300]) {
      const value = randomBase62(length);
      expect(value).toHaveLength(length);
      expect(value).toMatch(BASE62);
    }
  });
});

describe('isId', () => {
  const good = newId('space');
  const body = good.slice(4);

  it('accepts an id of the right kind', () => {
    expect(isId('space', good)).toBe(true);
  });

  it('rejects an id of another kind, or with the prefix but no underscore', () => {
    expect(isId('account', good)).toBe(false);
    expect(isId('space', `acc_${body}`)).toBe(false);
    expect(isId('space', `spc${body}`)).toBe(false);
    expect(isId('space', `SPC_${body}`)).toBe(false);
  });

  it('rejects a body that is one character short or long', () => {
    expect(isId('space', good.slice(0, -1))).toBe(false);
    expect(isId('space', `${good}a`)).toBe(false);
    expect(isId('space', 'spc_')).toBe(false);
  });

  it('rejects characters outside base62 in the body', () => {
    for (const bad of ['-', '_', '+', '/', '=', ' ', 'é', '\n']) {
      expect(isId('space', `spc_${body.slice(0, 23)}${bad}`)).toBe(false);
    }
  });

  it('rejects values that are not strings', () => {
    for (const value of [undefined, null, 42, {}, [good]]) expect(isId('space', value)).toBe(false);
  });
});

describe('idFor', () => {
  it('gives the same valid id for the same seed and different ids for different seeds or kinds', () => {
    const id = idFor('artifact', 'run_1:download:guid-1');
    expect(isId('artifact', id)).toBe(true);
    expect(idFor('artifact', 'run_1:download:guid-1')).toBe(id);
    expect(idFor('artifact', 'run_1:download:guid-2')).not.toBe(id);
    expect(idFor('run', 'run_1:download:guid-1').slice(4)).not.toBe(id.slice(4));
  });
});
