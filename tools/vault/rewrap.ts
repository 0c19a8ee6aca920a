// `npm run vault:rewrap`: re-wraps every secret's data key under the current key-encryption key (the first of
// BCTRL_VAULT_KEYS), so an old key can then be dropped. Values are not re-encrypted: each keeps its own data key.
//   Distributed (BCTRL_MODE=distributed): asks the spaces service over NATS_URL. Roll the new BCTRL_VAULT_KEYS out
//     to every spaces replica first (new key first, old keys after).
//   Local: opens the data dir's platform (stop `npm start` first: its database is in use) and does it there.
// Exits 2 when some secrets are sealed under keys this process does not hold (their ids are printed).
import type { MessageShape } from '@bufbuild/protobuf';
import { loadConfig, serviceProcessSettings } from '@bctrl/config';
import { SecretsV1, type secretsV1 } from '@bctrl/contracts';
import { startLocal } from '@bctrl/local';
import { NatsTransport, TRANSPORT, type Transport } from '@bctrl/transport';

type Counts = MessageShape<typeof secretsV1.RewrapSecretsResponseSchema>;

const OPERATOR = { principal: { kind: 'operator' as const } };
// Thousands of secrets take a while: each is a read and a write.
const TIMEOUT_MS = 30 * 60_000;

function rewrapVia(transport: Transport): Promise<Counts> {
  return transport.request(SecretsV1.rewrapSecrets, {}, OPERATOR, { timeoutMs: TIMEOUT_MS });
}

export async function rewrap(env: NodeJS.ProcessEnv = process.env): Promise<Counts> {
  if (env['BCTRL_MODE'] === 'distributed') {
    const config = loadConfig(serviceProcessSettings, { ...env, BCTRL_MODE: 'distributed' });
    const transport = await NatsTransport.connect({ servers: config.natsUrl as string, name: 'vault-rewrap' });
    try {
      return await rewrapVia(transport);
    } finally {
      await transport.close();
    }
  }
  // No port of its own and no warm browsers: only the database and the vault are wanted.
  const platform = await startLocal({ env: { ...env, BCTRL_PORT: '0', BCTRL_WARM_POOL_SIZE: '0', LOG_LEVEL: 'warn' } });
  try {
    if (platform.createdKey) process.stdout.write(`Admin API key (shown once, keep it): ${platform.createdKey}\n`);
    return await rewrapVia(platform.app.get<Transport>(TRANSPORT));
  } finally {
    await platform.close();
  }
}

if (require.main === module) {
  rewrap()
    .then((counts) => {
      const out = (line: string) => process.stdout.write(`${line}\n`);
      out(`re-wrapped under the current key: ${counts.rewrapped}`);
      out(`already under it:                 ${counts.alreadyCurrent}`);
      out(`unreadable (key not held):        ${counts.unreadable}`);
      if (counts.missingKeyIds.length > 0) {
        out(`missing keys: ${counts.missingKeyIds.join(', ')} (add them to BCTRL_VAULT_KEYS, after the current one)`);
        process.exit(2);
      }
      process.exit(0);
    })
    .catch((error: unknown) => {
      process.stderr.write(`vault:rewrap failed: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    });
}
