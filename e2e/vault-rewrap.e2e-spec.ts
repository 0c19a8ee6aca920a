import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { SecretsV1, SpacesV1 } from '@bctrl/contracts';
import { generateApiKey, hashApiKey, type KeyPrincipal, type Role } from '@bctrl/core';
import { startLocal } from '@bctrl/local';
import { TRANSPORT, type Transport } from '@bctrl/transport';
import { newVaultKey } from '@bctrl/vault';
import { removeLocalDataDir, REPO_ROOT } from './platform';

jest.setTimeout(180_000);

/** `npm run vault:rewrap` as an operator types it, with this environment; its exit code and what it printed. */
function runRewrap(env: NodeJS.ProcessEnv): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(
      'npm',
      ['run', '--silent', 'vault:rewrap'],
      { cwd: REPO_ROOT, env: { ...process.env, ...env }, timeout: 120_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, output: `${stdout}${stderr}` });
      },
    );
  });
}

describe('npm run vault:rewrap (local mode)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'bctrl-vault-rewrap-'));
  const adminKey = generateApiKey();
  const env = (extra: NodeJS.ProcessEnv = {}) => ({
    BCTRL_DATA_DIR: dataDir,
    BCTRL_PORT: '0',
    BCTRL_BOOTSTRAP_API_KEY: adminKey,
    BCTRL_WORKSPACE_ROOT: REPO_ROOT,
    LOG_LEVEL: 'error',
    ...extra,
  });

  afterAll(() => removeLocalDataDir(dataDir));

  /** Starts the data dir's platform with these keys and reads a secret's value as a using service would. */
  async function resolveWith(keys: string, secretId: string, spaceId: string) {
    const platform = await startLocal({ env: env({ BCTRL_VAULT_KEYS: keys }), workspaceRoot: REPO_ROOT });
    try {
      const transport = platform.app.get<Transport>(TRANSPORT);
      const { principal } = await transport.request(
        SpacesV1.authenticate,
        { keyHash: hashApiKey(adminKey) },
        { principal: { kind: 'operator' } },
      );
      const key: KeyPrincipal = {
        kind: 'key',
        accountId: principal?.accountId as string,
        subaccountId: null,
        spaceIds: null,
        role: principal?.role as Role,
        keyId: principal?.keyId as string,
      };
      return await transport.request(SecretsV1.resolveSecret, { secretId, spaceId }, { principal: key });
    } finally {
      await platform.close();
    }
  }

  it('moves every secret to a new first key and reports counts; then the old key can go; a lost key is named', async () => {
    // First start: local mode makes its own key in the data dir; a secret is sealed under it.
    const first = await startLocal({ env: env(), workspaceRoot: REPO_ROOT });
    const auth = { Authorization: `Bearer ${adminKey}` };
    let secretId: string;
    let spaceId: string;
    try {
      spaceId = (await request(first.url).post('/v1/spaces').set(auth).send({ name: 'vault' })).body.id as string;
      const created = await request(first.url)
        .post(`/v1/spaces/${spaceId}/secrets`)
        .set(auth)
        .send({ name: 'api-token', value: 'the-value-to-keep' });
      expect(created.status).toBe(201);
      secretId = created.body.id as string;
    } finally {
      await first.close();
    }
    const localKey = readFileSync(join(dataDir, 'vault-keys'), 'utf8').trim();
    const newKey = newVaultKey('next');

    const moved = await runRewrap(env({ BCTRL_VAULT_KEYS: `${newKey},${localKey}` }));
    expect(moved).toMatchObject({ code: 0 });
    expect(moved.output).toMatch(/re-wrapped under the current key: 1\b/);
    expect(moved.output).not.toContain('the-value-to-keep');
    const again = await runRewrap(env({ BCTRL_VAULT_KEYS: `${newKey},${localKey}` }));
    expect(again.output).toMatch(/re-wrapped under the current key: 0\b/);
    expect(again.output).toMatch(/already under it: +1\b/);

    // The old key retired: the value still opens.
    expect(await resolveWith(newKey, secretId, spaceId)).toMatchObject({ value: 'the-value-to-keep', version: 1 });
    // Without the new key the rewrap cannot read it, and says which key is missing.
    const lost = await runRewrap(env({ BCTRL_VAULT_KEYS: localKey }));
    expect(lost.code).toBe(2);
    expect(lost.output).toMatch(/unreadable \(key not held\): +1\b/);
    expect(lost.output).toContain('missing keys: next');
  });
});
