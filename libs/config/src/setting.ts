import { z } from 'zod';

/** Reads the resolved value of another setting, so defaults and conditions can depend on it. */
export type SettingReader = <T>(setting: Setting<z.ZodTypeAny, T>) => T;

export type SettingDefault<S extends z.ZodTypeAny> = z.input<S> | ((read: SettingReader) => z.input<S>);

/**
 * A setting is required only while the controlling setting has one of the listed values. It points at the
 * setting object rather than an env name so a service that picks a subset of the table still evaluates the
 * condition against the controlling setting's default.
 */
export interface RequiredWhen {
  readonly setting: Setting<z.ZodTypeAny, unknown>;
  readonly is: string | readonly string[];
}

export interface SettingSpec<S extends z.ZodTypeAny> {
  readonly env: string;
  readonly schema: S;
  readonly default?: SettingDefault<S>;
  /** How the default reads in the README when it is computed. */
  readonly defaultDoc?: string;
  readonly group: string;
  readonly description: string;
  readonly sensitive: boolean;
  readonly requiredWhen?: RequiredWhen;
}

export interface Setting<S extends z.ZodTypeAny = z.ZodTypeAny, Out = z.output<S>> extends SettingSpec<S> {
  /** Type-level only: what `loadConfig` yields for this setting. */
  readonly _output?: () => Out;
}

export type SettingsTable = Readonly<Record<string, Setting<z.ZodTypeAny, unknown>>>;

export type ConfigOf<T extends SettingsTable> = {
  readonly [K in keyof T]: T[K] extends Setting<z.ZodTypeAny, infer Out> ? Out : never;
};

export function defineSetting<S extends z.ZodTypeAny>(
  spec: SettingSpec<S> & { readonly requiredWhen: RequiredWhen },
): Setting<S, z.output<S> | undefined>;
export function defineSetting<S extends z.ZodTypeAny>(spec: SettingSpec<S>): Setting<S, z.output<S>>;
export function defineSetting<S extends z.ZodTypeAny>(spec: SettingSpec<S>): Setting<S, unknown> {
  return { ...spec };
}

/** Picks the settings a service uses from the shared table, keeping their types. */
export function pickSettings<T extends SettingsTable, K extends keyof T>(table: T, ...keys: K[]): Pick<T, K> {
  const picked = {} as Pick<T, K>;
  for (const key of keys) picked[key] = table[key];
  return picked;
}

export function requiredWhenValues(condition: RequiredWhen): readonly string[] {
  return typeof condition.is === 'string' ? [condition.is] : condition.is;
}
