// What the benches share: their arguments, their statistics, and how they print them.
import { loadavg } from 'node:os';

/** What every bench prints per kind of sample. */
export interface Stats {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  mean: number;
  min: number;
  max: number;
}

/** Nearest-rank percentile: with 50 samples p99 is the largest one. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

export function stats(samples: number[]): Stats {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    n: sorted.length,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    mean: sorted.length ? sorted.reduce((a, b) => a + b, 0) / sorted.length : NaN,
    min: sorted[0] ?? NaN,
    max: sorted[sorted.length - 1] ?? NaN,
  };
}

export const median = (values: number[]) =>
  percentile(
    [...values].sort((a, b) => a - b),
    50,
  );

/** The machine's 1/5/15-minute load: numbers taken on a busy machine are only comparable with each other. */
export const loadAverage = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' / ');

export const fmt = (value: number, digits = 1) => (Number.isFinite(value) ? value.toFixed(digits) : '—');

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** `--name N` (or the environment variable `envName`), a whole number of at least `min`; `fallback` when absent. */
export function intArg(name: string, fallback: number, options: { envName?: string; min?: number } = {}): number {
  const min = options.min ?? 1;
  const index = process.argv.indexOf(`--${name}`);
  const raw = index >= 0 ? process.argv[index + 1] : options.envName ? process.env[options.envName] : undefined;
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min)
    throw new Error(`--${name} must be a whole number from ${min}, not ${raw}`);
  return value;
}
