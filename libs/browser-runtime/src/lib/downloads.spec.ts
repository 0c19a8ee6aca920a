import { safeUrl } from './downloads';

describe('safeUrl', () => {
  it('keeps scheme, host and path, and drops credentials, query, fragment and data: payloads', () => {
    expect(safeUrl('https://user:pw@example.com:8443/a/b.pdf?token=s3cret#frag')).toBe(
      'https://example.com:8443/a/b.pdf',
    );
    expect(safeUrl('blob:https://example.com/6c1e?x=1')).toBe('blob:https://example.com/6c1e');
    expect(safeUrl('data:text/plain;base64,c2VjcmV0')).toBe('data:');
    expect(safeUrl('file:///tmp/a.txt?x')).toBe('file:///tmp/a.txt');
    expect(safeUrl('not a url')).toBe('');
  });
});
