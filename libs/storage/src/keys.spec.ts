import {
  artifactKey,
  decodePathCursor,
  encodePathCursor,
  newObjectVersion,
  safeArtifactName,
  spaceObjectKey,
} from './keys';

describe('object keys', () => {
  it('puts everything of a space under spaces/<spaceId>/', () => {
    expect(spaceObjectKey('spc_1', 'docs/a.pdf', 'v1')).toBe('spaces/spc_1/objects/v1');
    // A row from before versions keeps its bytes at its path.
    expect(spaceObjectKey('spc_1', 'docs/a.pdf', '')).toBe('spaces/spc_1/storage/docs/a.pdf');
    expect(artifactKey('spc_1', 'art_2', 'a.pdf')).toBe('spaces/spc_1/artifacts/art_2/a.pdf');
  });

  it('gives every upload a version of its own', () => {
    const versions = new Set(Array.from({ length: 1000 }, () => newObjectVersion()));
    expect(versions.size).toBe(1000);
    for (const version of versions) expect(version).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  it.each([
    ['invoice.pdf', 'invoice.pdf'],
    ['../../etc/passwd', '.._.._etc_passwd'],
    ['a\\b', 'a_b'],
    ['line\nbreak\u0000', 'line_break_'],
    ['..', 'artifact'],
    ['   ', 'artifact'],
    ['', 'artifact'],
  ])('makes the artifact name %j a single safe key segment: %j', (name, safe) => {
    expect(safeArtifactName(name)).toBe(safe);
  });

  it('cuts a long artifact name to 200 bytes without splitting a character', () => {
    const safe = safeArtifactName('é'.repeat(150));
    expect(Buffer.byteLength(safe)).toBeLessThanOrEqual(200);
    expect(safe).toBe('é'.repeat(100));
  });

  it('round-trips a path cursor and refuses anything else with 400', () => {
    expect(decodePathCursor(encodePathCursor('docs/ü/x.bin'))).toBe('docs/ü/x.bin');
    for (const bad of ['', 'not base64!', Buffer.from('{"x":1}').toString('base64url'), 'e30']) {
      expect(() => decodePathCursor(bad)).toThrow(expect.objectContaining({ code: 'validation_failed' }));
    }
  });
});
