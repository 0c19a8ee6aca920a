import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Schemathesis comes from PyPI into a venv under the repo's `.cache/` (gitignored), made once and reused
 * while it holds the pinned version: a CI run or a second local run pays only for `--version`.
 */
export const SCHEMATHESIS_VERSION = '4.32.5';

export function ensureSchemathesis(repoRoot: string, log: (line: string) => void): string {
  const venv = join(repoRoot, '.cache', 'fuzz-venv');
  const bin = join(venv, 'bin', 'schemathesis');
  if (installedVersion(bin) === SCHEMATHESIS_VERSION) return bin;
  log(`installing schemathesis ${SCHEMATHESIS_VERSION} into ${venv}`);
  rmSync(venv, { recursive: true, force: true });
  if (spawnSync('python3', ['-m', 'venv', venv], { stdio: 'inherit' }).status !== 0) {
    // Debian's python3 keeps venv (ensurepip) in a package of its own; install it like the other test deps.
    if (process.getuid?.() !== 0) throw new Error('python3 cannot make a venv: apt-get install python3-venv');
    rmSync(venv, { recursive: true, force: true });
    run('apt-get', ['install', '-y', '-qq', 'python3-venv']);
    run('python3', ['-m', 'venv', venv]);
  }
  run(join(venv, 'bin', 'pip'), [
    'install',
    '--quiet',
    '--disable-pip-version-check',
    `schemathesis==${SCHEMATHESIS_VERSION}`,
  ]);
  const version = installedVersion(bin);
  if (version !== SCHEMATHESIS_VERSION) throw new Error(`schemathesis in ${venv} reports ${version ?? 'nothing'}`);
  return bin;
}

function installedVersion(bin: string): string | undefined {
  if (!existsSync(bin)) return undefined;
  const out = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  return /version (\S+)/.exec(out.stdout ?? '')?.[1];
}

function run(command: string, args: string[]): void {
  const result = spawnSync(command, args, { stdio: 'inherit' });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${result.status}`);
}

type TomlValue = string | number | boolean | TomlValue[] | { [key: string]: TomlValue };

/**
 * The little TOML the config needs: tables of scalars, arrays and inline tables. JSON's string escapes are
 * valid TOML basic strings, so values and keys go through JSON.stringify.
 */
export function toToml(doc: Record<string, TomlValue>): string {
  const inline = (value: TomlValue): string => {
    if (Array.isArray(value)) return `[${value.map(inline).join(', ')}]`;
    if (typeof value === 'object') {
      return `{ ${Object.entries(value)
        .map(([k, v]) => `${JSON.stringify(k)} = ${inline(v)}`)
        .join(', ')} }`;
    }
    return JSON.stringify(value);
  };
  const isTable = (value: TomlValue): value is Record<string, TomlValue> =>
    typeof value === 'object' && !Array.isArray(value);
  const isTableArray = (value: TomlValue): value is Array<Record<string, TomlValue>> =>
    Array.isArray(value) && value.length > 0 && value.every(isTable);
  const lines: string[] = [];
  const table = (path: string[], body: Record<string, TomlValue>) => {
    const scalars = Object.entries(body).filter(([, v]) => !isTable(v) && !isTableArray(v));
    for (const [k, v] of scalars) lines.push(`${JSON.stringify(k)} = ${inline(v)}`);
    for (const [k, v] of Object.entries(body)) {
      const name = [...path, k].map((p) => JSON.stringify(p)).join('.');
      if (isTable(v)) {
        lines.push('', `[${name}]`);
        table([...path, k], v);
      } else if (isTableArray(v)) {
        for (const item of v) {
          lines.push('', `[[${name}]]`);
          table([...path, k], item);
        }
      }
    }
  };
  table([], doc);
  return `${lines.join('\n')}\n`;
}
