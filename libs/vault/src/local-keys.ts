import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { newVaultKey } from './keyring';

export const LOCAL_VAULT_KEYS_FILE = 'vault-keys';

/**
 * Local mode's key-encryption key: created in the data dir on first start (readable by its owner only), read from
 * there after. The text has BCTRL_VAULT_KEYS' form, so an operator can move it into the setting unchanged.
 */
export function ensureLocalVaultKeys(
  dataDir: string,
  now = new Date(),
): { keys: string; file: string; created: boolean } {
  const file = join(dataDir, LOCAL_VAULT_KEYS_FILE);
  if (existsSync(file)) {
    // Tightened on every start: a copy or an extract may have widened it.
    chmodSync(file, 0o600);
    return { keys: readFileSync(file, 'utf8').trim(), file, created: false };
  }
  mkdirSync(dataDir, { recursive: true });
  const id = `local-${now.toISOString().slice(0, 10).replace(/-/g, '')}`;
  const keys = newVaultKey(id);
  // `wx`: two starts racing on one data dir must not each write a key and lose the other's secrets.
  writeFileSync(file, `${keys}\n`, { mode: 0o600, flag: 'wx' });
  return { keys, file, created: true };
}
