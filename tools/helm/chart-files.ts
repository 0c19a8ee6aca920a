import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import Ajv, { ValidateFunction } from 'ajv';
import YAML from 'yaml';

export const repoRoot = join(__dirname, '..', '..');
export const chartDir = join(repoRoot, 'helm', 'bctrl');

export function readChartFile(name: string): string {
  return readFileSync(join(chartDir, name), 'utf8');
}

export function defaultValues(): Record<string, unknown> {
  return YAML.parse(readChartFile('values.yaml')) as Record<string, unknown>;
}

export function compileValuesSchema(): ValidateFunction {
  // Strict mode catches typos in the schema itself (an unknown keyword would silently validate nothing).
  const ajv = new Ajv({ strict: true, allErrors: true, allowUnionTypes: true });
  return ajv.compile(JSON.parse(readChartFile('values.schema.json')));
}

/** `## @param a.b.c Description` lines of values.yaml, by dotted path. */
export function documentedParams(): Map<string, string> {
  const params = new Map<string, string>();
  for (const match of readChartFile('values.yaml').matchAll(/^\s*## @param (\S+) (.+)$/gm)) {
    params.set(match[1], match[2]);
  }
  return params;
}

/** Dotted paths of the values a user sets: scalars, lists, and maps that are empty by default. */
export function leafPaths(value: unknown, prefix = ''): string[] {
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length > 0) {
    return Object.entries(value).flatMap(([key, child]) => leafPaths(child, prefix ? `${prefix}.${key}` : key));
  }
  return [prefix];
}

export function setPath(target: Record<string, unknown>, path: string, value: unknown): Record<string, unknown> {
  const keys = path.split('.');
  let node = target;
  for (const key of keys.slice(0, -1)) node = node[key] as Record<string, unknown>;
  const last = keys[keys.length - 1];
  if (value === undefined) delete node[last];
  else node[last] = value;
  return target;
}

/**
 * The helm CLI: HELM_BIN, then the copy tools/helm/install-helm.sh builds, then PATH. Returns undefined when
 * there is none, so the caller can fail with instructions.
 */
export function findHelm(): string | undefined {
  const candidates = [
    process.env.HELM_BIN,
    join(homedir(), '.cache', 'bctrl', 'bin', 'helm'),
    ...(process.env.PATH ?? '')
      .split(delimiter)
      .filter(Boolean)
      .map((dir) => join(dir, 'helm')),
  ];
  return candidates.find((candidate): candidate is string => !!candidate && existsSync(candidate));
}

export interface HelmResult {
  ok: boolean;
  stdout: string;
  stderr: string;
}

export function runHelm(helm: string, args: string[], input?: string): HelmResult {
  try {
    const stdout = execFileSync(helm, args, {
      cwd: repoRoot,
      input,
      encoding: 'utf8',
      stdio: ['pipe', 'pipe', 'pipe'],
      // A private home keeps the test from reading or writing the developer's helm repositories and cache.
      env: {
        ...process.env,
        HELM_CACHE_HOME: join(repoRoot, 'tmp', 'helm', 'cache'),
        HELM_CONFIG_HOME: join(repoRoot, 'tmp', 'helm', 'config'),
        HELM_DATA_HOME: join(repoRoot, 'tmp', 'helm', 'data'),
      },
      maxBuffer: 32 * 1024 * 1024,
    });
    return { ok: true, stdout, stderr: '' };
  } catch (error) {
    const failed = error as { stdout?: string; stderr?: string };
    return {
      ok: false,
      stdout: failed.stdout ?? '',
      stderr: failed.stderr ?? String(error),
    };
  }
}
