import { downloadFileName, safeUrl } from './downloads';

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

describe('downloadFileName', () => {
  const names = (suggested: string, count = 3) =>
    Array.from({ length: count }, (_, attempt) => downloadFileName(suggested, attempt));

  it('keeps the suggested name, then counts before the extension as Chrome does', () => {
    expect(names('report.bin')).toEqual(['report.bin', 'report (1).bin', 'report (2).bin']);
    expect(names('quarterly report.pdf', 2)).toEqual(['quarterly report.pdf', 'quarterly report (1).pdf']);
    expect(names('archive.tar.gz', 2)).toEqual(['archive.tar.gz', 'archive (1).tar.gz']);
    expect(downloadFileName('photo.2024.jpeg', 1)).toBe('photo.2024 (1).jpeg');
    // Only a short extension before a compression suffix belongs to it.
    expect(downloadFileName('backup.database.gz', 1)).toBe('backup.database (1).gz');
  });

  it('counts at the end of a name without an extension and of a dotfile', () => {
    expect(names('README')).toEqual(['README', 'README (1)', 'README (2)']);
    expect(names('.env', 2)).toEqual(['.env', '.env (1)']);
    expect(downloadFileName('.config.json', 1)).toBe('.config (1).json');
  });

  it('makes any suggestion one safe file name in downloads/', () => {
    expect(downloadFileName('../../etc/passwd')).toBe('.._.._etc_passwd');
    expect(downloadFileName('a\\b.txt')).toBe('a_b.txt');
    expect(downloadFileName('bad\u0000\nname.txt')).toBe('badname.txt');
    expect(downloadFileName('')).toBe('download');
    expect(downloadFileName('..', 1)).toBe('download (1)');
    const long = `${'é'.repeat(200)}.bin`;
    for (const attempt of [0, 12]) {
      const name = downloadFileName(long, attempt);
      expect(Buffer.byteLength(name)).toBeLessThanOrEqual(255);
      expect(name.endsWith(attempt ? ` (${attempt}).bin` : '.bin')).toBe(true);
      expect(name).not.toContain('\ufffd');
    }
  });
});
