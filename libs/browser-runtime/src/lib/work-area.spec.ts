import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FilePathError, WorkArea } from './work-area';

describe('WorkArea', () => {
  let workDir: string;
  let area: WorkArea;

  beforeEach(() => {
    workDir = mkdtempSync(join(tmpdir(), 'bctrl-work-area-'));
    mkdirSync(join(workDir, 'user-data', 'Default'), { recursive: true });
    writeFileSync(join(workDir, 'user-data', 'Default', 'Cookies'), 'secret');
    area = new WorkArea(workDir);
  });
  afterEach(() => rmSync(workDir, { recursive: true, force: true }));

  it('accepts relative paths under files/ and downloads/, and absolute paths inside the area, as the same path', () => {
    expect(area.parse('files/a/b.txt')).toEqual({ path: 'files/a/b.txt', dir: 'files', rest: ['a', 'b.txt'] });
    expect(area.parse(join(area.root, 'downloads', 'x.bin')).path).toBe('downloads/x.bin');
    expect(area.parse(join(workDir, 'files', 'é ü.txt')).path).toBe('files/é ü.txt');
    expect(area.runtimePath(area.parse('files/a.txt'))).toBe(join(area.root, 'files', 'a.txt'));
    expect(area.parse('downloads', { folder: true }).rest).toEqual([]);
  });

  it.each([
    ['', 'required'],
    ['../x', 'segments'],
    ['files/../user-data/Default/Cookies', 'segments'],
    ['files/./a', 'segments'],
    ['files//a', 'segments'],
    ['files/a/', 'segments'],
    ['/etc/passwd', 'inside the work area'],
    [`${tmpdir()}/other/files/a`, 'inside the work area'],
    ['files/a\0b', 'control characters'],
    ['files/a\nb', 'control characters'],
    ['files/a\\..\\b', 'backslash'],
    ['user-data/Default/Cookies', 'must start with'],
    ['agent.json', 'must start with'],
    ['.incoming/x', 'must start with'],
    ['files', 'not a file'],
  ])('refuses %j by its text', (input, message) => {
    expect(() => area.parse(input)).toThrow(FilePathError);
    expect(() => area.parse(input)).toThrow(message);
  });

  it('refuses overlong segments and paths', () => {
    expect(() => area.parse(`files/${'a'.repeat(256)}`)).toThrow('longer than 255 bytes');
    expect(() => area.parse(`files/${'a/'.repeat(600)}b`)).toThrow('longer than 1024');
    expect(area.parse(`files/${'a'.repeat(255)}`).rest).toHaveLength(1);
  });

  it('refuses a path whose symlinks lead out of the area, and one whose parent is a file', async () => {
    symlinkSync('/etc/passwd', join(workDir, 'files', 'passwd'));
    symlinkSync(join(workDir, 'user-data'), join(workDir, 'files', 'profile'));
    symlinkSync(join(workDir, 'downloads'), join(workDir, 'files', 'inside'));
    writeFileSync(join(workDir, 'files', 'plain.txt'), 'x');
    await expect(area.existing(area.parse('files/passwd'))).rejects.toThrow('leads out of the work area');
    await expect(area.existing(area.parse('files/profile/Default/Cookies'))).rejects.toThrow(FilePathError);
    await expect(area.parentFor(area.parse('files/profile/new/x.txt'))).rejects.toThrow('leads out');
    await expect(area.parentFor(area.parse('files/plain.txt/x'))).rejects.toThrow('is a file');
    // A symlink that stays inside the area is fine; a missing file is null, not an error.
    expect(await area.existing(area.parse('files/inside'))).toBe(join(area.root, 'downloads'));
    expect(await area.existing(area.parse('files/nothing/here'))).toBeNull();
  });

  it('makes missing parent folders inside the area', async () => {
    const parent = await area.parentFor(area.parse('files/a/b/c.txt'));
    expect(parent).toBe(join(area.root, 'files', 'a', 'b'));
    expect(area.contains(parent)).toBe(true);
    expect(area.contains(join(area.root, 'user-data'))).toBe(false);
    expect(area.contains(`${join(area.root, 'files')}-evil`)).toBe(false);
  });
});
