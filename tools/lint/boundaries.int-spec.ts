import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

const ROOT = resolve(__dirname, '../..');

interface Probe {
  what: string;
  file: string;
  code: string;
  /** The rule that must fire, or null for code that must pass. */
  rule: string | null;
}

const PROBES: Probe[] = [
  {
    what: 'a service lib importing another service lib',
    file: 'libs/gateway/src/lint-probe-a.ts',
    code: "import { SpacesModule } from '@bctrl/spaces';\nexport const m = SpacesModule;\n",
    rule: '@nx/enforce-module-boundaries',
  },
  {
    what: 'a shared lib importing a service lib',
    file: 'libs/core/src/lint-probe-b.ts',
    code: "import { GatewayModule } from '@bctrl/gateway';\nexport const m = GatewayModule;\n",
    rule: '@nx/enforce-module-boundaries',
  },
  {
    what: 'a lib importing an app',
    file: 'libs/spaces/src/lint-probe-c.ts',
    code: "import { bootstrap } from '../../../apps/spaces/src/bootstrap';\nexport const b = bootstrap;\n",
    rule: '@nx/enforce-module-boundaries',
  },
  {
    what: 'Kubernetes outside the orchestrator',
    file: 'libs/gateway/src/lint-probe-d.ts',
    code: "import { KubeConfig } from '@kubernetes/client-node';\nexport const k = KubeConfig;\n",
    rule: 'no-restricted-imports',
  },
  {
    what: 'the S3 SDK outside storage',
    file: 'libs/spaces/src/lint-probe-e.ts',
    code: "import { S3Client } from '@aws-sdk/client-s3';\nexport const s = S3Client;\n",
    rule: 'no-restricted-imports',
  },
  {
    what: 'a floating promise',
    file: 'libs/core/src/lint-probe-f.ts',
    code: 'async function f() {\n  return 1;\n}\nexport function g() {\n  f();\n}\n',
    rule: '@typescript-eslint/no-floating-promises',
  },
  {
    what: 'a service lib using shared libs',
    file: 'libs/gateway/src/lint-probe-g.ts',
    code: "import { SpacesV1 } from '@bctrl/contracts';\nimport { BctrlError } from '@bctrl/core';\nexport const x = [BctrlError, SpacesV1];\n",
    rule: null,
  },
  {
    what: "an e2e suite reaching into a lib's files by relative path",
    file: 'e2e/lint-probe-h.ts',
    code: "import { FakeKubelet } from '../libs/runtime-orchestrator/src/testing/fake-kubelet';\nexport const k = FakeKubelet;\n",
    rule: '@nx/enforce-module-boundaries',
  },
  {
    what: 'an e2e suite importing an app',
    file: 'e2e/lint-probe-i.ts',
    code: "import { bootstrap } from '../apps/gateway/src/bootstrap';\nexport const b = bootstrap;\n",
    rule: '@nx/enforce-module-boundaries',
  },
  {
    what: "an e2e suite using a lib's testing entry point and the services' libs",
    file: 'e2e/lint-probe-j.ts',
    code: "import { startLocal } from '@bctrl/local';\nimport { FakeKubelet } from '@bctrl/runtime-orchestrator/testing';\nexport const x = [FakeKubelet, startLocal];\n",
    rule: null,
  },
  {
    what: 'loose equality',
    file: 'libs/core/src/lint-probe-k.ts',
    code: 'export function same(a: unknown, b: unknown) {\n  return a == b;\n}\n',
    rule: 'eqeqeq',
  },
  {
    what: 'an async function that awaits nothing',
    file: 'libs/core/src/lint-probe-l.ts',
    code: 'export async function f() {\n  return 1;\n}\n',
    rule: '@typescript-eslint/require-await',
  },
  {
    what: 'imports out of order (our libs before a package)',
    file: 'libs/gateway/src/lint-probe-m.ts',
    code: "import { BctrlError } from '@bctrl/core';\nimport { Module } from '@nestjs/common';\nexport const x = [BctrlError, Module];\n",
    rule: 'simple-import-sort/imports',
  },
];

/**
 * The architecture rules are only worth having if they bite: each probe is a small file placed where the
 * offending code would live, linted with the repo's own config and CLI (type-aware rules need real files).
 */
describe('lint enforces the architecture', () => {
  const fired = new Map<string, string[]>();

  beforeAll(() => {
    // The boundary rule reads Nx's project graph; build it, as `npm run lint` does.
    execFileSync(process.execPath, [resolve(ROOT, 'node_modules/nx/dist/bin/nx.js'), 'show', 'projects'], {
      cwd: ROOT,
      stdio: 'ignore',
    });
    try {
      for (const probe of PROBES) {
        mkdirSync(dirname(resolve(ROOT, probe.file)), { recursive: true });
        writeFileSync(resolve(ROOT, probe.file), probe.code);
      }
      let out: string;
      try {
        out = execFileSync(
          process.execPath,
          [resolve(ROOT, 'node_modules/eslint/bin/eslint.js'), '--format', 'json', ...PROBES.map((p) => p.file)],
          { cwd: ROOT, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 },
        );
      } catch (error) {
        // Exit code 1 means "problems found"; the JSON report is still on stdout.
        out = (error as { stdout: string }).stdout;
      }
      const results = JSON.parse(out) as Array<{
        filePath: string;
        messages: Array<{ ruleId: string | null; message: string }>;
      }>;
      for (const result of results) {
        fired.set(
          result.filePath,
          result.messages.map((m) => m.ruleId ?? `fatal: ${m.message}`),
        );
      }
    } finally {
      for (const probe of PROBES) rmSync(resolve(ROOT, probe.file), { force: true });
    }
  }, 120_000);

  it.each(PROBES.filter((p) => p.rule).map((p) => [p.what, p] as const))('rejects %s', (_what, probe) => {
    expect(fired.get(resolve(ROOT, probe.file))).toContain(probe.rule);
  });

  it.each(PROBES.filter((p) => !p.rule).map((p) => [p.what, p] as const))('accepts %s', (_what, probe) => {
    expect(fired.get(resolve(ROOT, probe.file))).toEqual([]);
  });
});
