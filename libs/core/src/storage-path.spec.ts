import { checkStoragePath, requireStoragePath } from './storage-path';

describe('storage paths', () => {
  it.each(['a', 'docs/report.pdf', 'deep/er/than/that/x.tar.gz', 'ünïcødé/名前.txt', 'dots...ok/.hidden', 'a b/c'])(
    'accepts %j',
    (path) => {
      expect(checkStoragePath(path)).toEqual([]);
    },
  );

  it.each([
    ['', 'must not be empty'],
    ['../etc/passwd', '`..`'],
    ['a/../../b', '`..`'],
    ['a/./b', '`..`'],
    ['/etc/passwd', 'relative'],
    ['a//b', 'empty segments'],
    ['a/', 'empty segments'],
    ['a\0b', 'NUL'],
    ['a\nb', 'control characters'],
    ['a\u007fb', 'control characters'],
    ['a\\b', 'separator'],
    ['x'.repeat(241), 'segments of at most 240 bytes'],
    [`${'ü'.repeat(121)}`, 'segments of at most 240 bytes'],
    [Array.from({ length: 6 }, () => 'y'.repeat(200)).join('/'), 'at most 1024 bytes'],
    ['bad\uD800surrogate', 'well-formed'],
  ])('refuses %j', (path, issue) => {
    const details = checkStoragePath(path);
    expect(details).toHaveLength(1);
    expect(details[0]?.field).toBe('path');
    expect(details[0]?.issue).toContain(issue);
  });

  it('lets a list prefix be empty or end with a slash, but nothing else', () => {
    expect(checkStoragePath('', 'prefix', { prefix: true })).toEqual([]);
    expect(checkStoragePath('docs/', 'prefix', { prefix: true })).toEqual([]);
    expect(checkStoragePath('docs//', 'prefix', { prefix: true })).toHaveLength(1);
    expect(checkStoragePath('../', 'prefix', { prefix: true })).toHaveLength(1);
  });

  it('throws validation_failed with the details', () => {
    expect(() => requireStoragePath('../x')).toThrow(expect.objectContaining({ code: 'validation_failed' }));
  });
});
