#!/usr/bin/env node
// Generates the Prisma client of every service with a libs/<service>/prisma/schema.prisma.
// Plain CommonJS because it runs from `postinstall`, before anything could compile TypeScript.
'use strict';

const { spawnSync } = require('node:child_process');
const { existsSync, readdirSync } = require('node:fs');
const { dirname, join, relative } = require('node:path');

const root = join(__dirname, '..', '..');

function schemas() {
  const libs = join(root, 'libs');
  if (!existsSync(libs)) return [];
  return readdirSync(libs, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => join(libs, entry.name, 'prisma', 'schema.prisma'))
    .filter((schema) => existsSync(schema))
    .sort();
}

function prismaCli() {
  try {
    return join(dirname(require.resolve('prisma/package.json', { paths: [root] })), 'build', 'index.js');
  } catch {
    return undefined;
  }
}

function main() {
  const found = schemas();
  if (found.length === 0) {
    console.log('db:generate: no libs/*/prisma/schema.prisma yet, nothing to generate');
    return 0;
  }
  const cli = prismaCli();
  if (!cli) {
    // `npm ci --omit=dev` has no prisma CLI; the image build runs generate where it does.
    console.warn('db:generate: the prisma CLI is not installed, skipping client generation');
    return 0;
  }
  for (const schema of found) {
    const result = spawnSync(process.execPath, [cli, 'generate', '--schema', schema], {
      cwd: root,
      stdio: 'inherit',
      env: {
        ...process.env,
        // generate only needs the wasm engines bundled with the CLI, but first tries to download the native
        // schema engine unless told where one is; /bin/false satisfies that check with no network (FEASIBILITY.md).
        PRISMA_SCHEMA_ENGINE_BINARY: '/bin/false',
        PRISMA_HIDE_UPDATE_MESSAGE: '1',
        CHECKPOINT_DISABLE: '1',
      },
    });
    if (result.status !== 0) {
      console.error(`db:generate: prisma generate failed for ${relative(root, schema)}`);
      return result.status ?? 1;
    }
  }
  return 0;
}

process.exitCode = main();
