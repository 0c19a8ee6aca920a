import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { SchemaEngine } from '@prisma/schema-engine-wasm/schema_engine_bg';

export type {
  ApplyMigrationsInput,
  DiffParams,
  MigrationDirectory,
  SchemaEngine,
  SchemaFilter,
} from '@prisma/schema-engine-wasm/schema_engine_bg';

type WasmExports = Record<string, unknown>;

type SchemaEngineBindings = {
  SchemaEngine: typeof SchemaEngine;
  __wbg_set_wasm(exports: WasmExports): void;
};

/** Node has WebAssembly at run time, but this repo's `lib` setting (no DOM) does not declare it. */
declare const WebAssembly: {
  instantiate(
    bytes: Uint8Array,
    imports: Record<string, Record<string, unknown>>,
  ): Promise<{ instance: { exports: WasmExports } }>;
};

let bindings: Promise<SchemaEngineBindings> | undefined;

/**
 * The wasm build of Prisma's schema engine, the one way to diff and apply migrations here without the native
 * engine download (see FEASIBILITY.md). The package version is pinned exactly because it is Prisma-internal.
 *
 * Its JS glue is an ES module, which neither jest (CommonJS, node_modules untransformed) nor older Node 20
 * can `require`. The glue has no imports, only `export function|class` declarations, so we strip the
 * `export` keywords and evaluate it with `new Function`, which runs it in the caller's realm: the glue's
 * `instanceof Promise/Uint8Array` checks then agree with the objects the driver adapter hands it.
 */
export function loadSchemaEngine(): Promise<SchemaEngineBindings> {
  bindings ??= instantiate().catch((error: unknown) => {
    bindings = undefined;
    throw error;
  });
  return bindings;
}

/**
 * The engine arms a timer (a 10 s lock timeout) it never clears after applying migrations; unref'd, it cannot keep
 * a finished CLI or test worker alive.
 */
function unrefSetTimeout(callback: () => void, ms: number): ReturnType<typeof setTimeout> {
  const timer = setTimeout(callback, ms);
  timer.unref?.();
  return timer;
}

async function instantiate(): Promise<SchemaEngineBindings> {
  // Resolved at run time through Node's own resolver: a bundler would otherwise turn require.resolve
  // into a module id, and the file must be read from node_modules as it is.
  const gluePath = createRequire(__filename).resolve('@prisma/schema-engine-wasm/schema_engine_bg');
  const glue = readFileSync(gluePath, 'utf8');
  const exported: string[] = [];
  const body = glue.replace(/^export (function|class) ([A-Za-z0-9_$]+)/gm, (_match, kind: string, name: string) => {
    exported.push(name);
    return `${kind} ${name}`;
  });
  if (/^\s*(export|import)\s/m.test(body) || !exported.includes('SchemaEngine')) {
    throw new Error('@prisma/schema-engine-wasm glue has an unexpected shape; its pinned version changed?');
  }
  const module = new Function('setTimeout', `${body}\nreturn { ${exported.join(', ')} };`)(unrefSetTimeout) as Record<
    string,
    unknown
  > &
    SchemaEngineBindings;
  const wasmBytes = readFileSync(join(dirname(gluePath), 'schema_engine_bg.wasm'));
  const { instance } = await WebAssembly.instantiate(wasmBytes, {
    './schema_engine_bg.js': module,
  });
  module.__wbg_set_wasm(instance.exports);
  (instance.exports['__wbindgen_start'] as () => void)();
  return module;
}
