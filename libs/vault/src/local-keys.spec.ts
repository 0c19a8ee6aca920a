import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseVaultKeys } from './keyring';
import { ensureLocalVaultKeys } from './local-keys';

describe('local mode vault key', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'bctrl-vault-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('is created once in the data dir, readable by its owner only, and read back after', () => {
    const first = ensureLocalVaultKeys(join(dir, 'data'), new Date('2026-12-08T00:00:00Z'));
    expect(first.created).toBe(true);
    expect(statSync(first.file).mode & 0o777).toBe(0o600);
    expect(parseVaultKeys(first.keys).current.id).toBe('local-20261208');
    const second = ensureLocalVaultKeys(join(dir, 'data'));
    expect(second).toEqual({ ...first, created: false });
  });

  it('tightens a key file whose mode was widened', () => {
    const { file } = ensureLocalVaultKeys(dir);
    chmodSync(file, 0o644);
    ensureLocalVaultKeys(dir);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });
});
