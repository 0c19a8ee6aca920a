import nx from '@nx/eslint-plugin';
import simpleImportSort from 'eslint-plugin-simple-import-sort';
import tseslint from 'typescript-eslint';

const SERVICE_SCOPES = [
  'gateway',
  'spaces',
  'runtime-orchestrator',
  'cdp-proxy',
  'invocation-worker',
  'runs-recorder',
  'storage',
  'browser-runtime',
];

/**
 * The architecture, enforced: a lib never imports an app; a service's code uses only its own scope and
 * shared libs (services meet through contracts); local mode alone composes every service.
 */
const depConstraints = [
  {
    sourceTag: 'type:app',
    onlyDependOnLibsWithTags: ['type:feature', 'type:data-access', 'type:util', 'type:contracts'],
  },
  {
    sourceTag: 'type:feature',
    onlyDependOnLibsWithTags: ['type:feature', 'type:data-access', 'type:util', 'type:contracts'],
  },
  { sourceTag: 'type:data-access', onlyDependOnLibsWithTags: ['type:data-access', 'type:util', 'type:contracts'] },
  { sourceTag: 'type:util', onlyDependOnLibsWithTags: ['type:util', 'type:contracts'] },
  { sourceTag: 'type:contracts', onlyDependOnLibsWithTags: ['type:contracts'] },
  {
    sourceTag: 'type:testing',
    onlyDependOnLibsWithTags: ['type:testing', 'type:feature', 'type:data-access', 'type:util', 'type:contracts'],
  },
  { sourceTag: 'scope:shared', onlyDependOnLibsWithTags: ['scope:shared'] },
  // The end-to-end suites drive the whole platform: every service's lib (never an app), and test doubles.
  {
    sourceTag: 'type:e2e',
    onlyDependOnLibsWithTags: ['type:feature', 'type:data-access', 'type:util', 'type:contracts', 'type:testing'],
  },
  ...SERVICE_SCOPES.map((scope) => ({
    sourceTag: `scope:${scope}`,
    onlyDependOnLibsWithTags: [`scope:${scope}`, 'scope:shared'],
  })),
  {
    sourceTag: 'scope:local',
    onlyDependOnLibsWithTags: ['scope:local', 'scope:shared', ...SERVICE_SCOPES.map((s) => `scope:${s}`)],
  },
];

/** Outside systems stay with the one service that owns them. */
const restrictedClients = (allowKubernetes, allowS3) => ({
  'no-restricted-imports': [
    'error',
    {
      patterns: [
        ...(allowKubernetes
          ? []
          : [{ group: ['@kubernetes/client-node'], message: 'Only runtime-orchestrator talks to Kubernetes.' }]),
        ...(allowS3 ? [] : [{ group: ['@aws-sdk/*'], message: 'Only the storage service talks to the object store.' }]),
      ],
    },
  ],
});

export default [
  ...nx.configs['flat/base'],
  ...nx.configs['flat/typescript'],
  ...nx.configs['flat/javascript'],
  {
    ignores: ['**/dist', '**/out-tsc', '**/generated/**', 'tmp/**', '.nx/**', 'node_modules/**'],
  },
  {
    files: ['**/*.ts', '**/*.js', '**/*.mjs', '**/*.cjs'],
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: true,
          allow: ['^.*/eslint(\\.base)?\\.config\\.[cm]?[jt]s$'],
          depConstraints,
        },
      ],
    },
  },
  {
    files: ['**/*.ts'],
    plugins: { 'simple-import-sort': simpleImportSort },
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { attributes: false } }],
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/require-await': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // STYLE.md: strict equality everywhere; `== null` stays allowed as the one idiom for null-or-undefined.
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      // STYLE.md's import sorting, in one block: side effects, node built-ins, packages, our libs, relative paths.
      'simple-import-sort/imports': [
        'error',
        { groups: [['^\\u0000', '^node:', '^@?(?!bctrl/)\\w', '^@bctrl/', '^\\.']] },
      ],
    },
  },
  {
    // Tests (and test support inside a lib) may use the shared test harness; product code may not.
    files: ['**/*.spec.ts', '**/*.int-spec.ts', '**/*.e2e-spec.ts', '**/src/testing/**/*.ts'],
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        { enforceBuildableLibDependency: true, allow: ['^@bctrl/testing$'], depConstraints },
      ],
    },
  },
  {
    files: ['**/*.ts'],
    ignores: ['libs/runtime-orchestrator/**', 'libs/storage/**'],
    rules: restrictedClients(false, false),
  },
  { files: ['libs/runtime-orchestrator/**/*.ts'], rules: restrictedClients(true, false) },
  { files: ['libs/storage/**/*.ts'], rules: restrictedClients(false, true) },
  {
    files: ['**/*.js', '**/*.cjs', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
];
