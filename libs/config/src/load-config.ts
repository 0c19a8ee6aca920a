import { z } from 'zod';
import { ConfigOf, requiredWhenValues, Setting, SettingReader, SettingsTable } from './setting';

export interface ConfigIssue {
  readonly env: string;
  readonly message: string;
}

/** Lists every bad or missing variable at once, so an operator fixes the environment in one round. */
export class ConfigError extends Error {
  constructor(readonly issues: readonly ConfigIssue[]) {
    super(
      `Invalid configuration (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n` +
        issues.map((issue) => `  - ${issue.env}: ${issue.message}`).join('\n'),
    );
    this.name = 'ConfigError';
  }
}

type Env = Readonly<Record<string, string | undefined>>;

type Resolution = { ok: true; value: unknown } | { ok: false; message: string };

const CYCLE: Resolution = { ok: false, message: 'default depends on itself' };

export function loadConfig<T extends SettingsTable>(settings: T, env: Env = process.env): ConfigOf<T> {
  const resolved = new Map<Setting<z.ZodTypeAny, unknown>, Resolution>();

  // Settings resolve lazily and by object identity, so a default or condition may depend on a setting that is
  // declared later or not picked into this table at all.
  const resolve = (setting: Setting<z.ZodTypeAny, unknown>): Resolution => {
    const known = resolved.get(setting);
    if (known) return known;
    resolved.set(setting, CYCLE);
    const result = resolveOne(setting, env, read);
    resolved.set(setting, result);
    return result;
  };
  const read: SettingReader = <V>(setting: Setting<z.ZodTypeAny, V>): V => {
    const result = resolve(setting);
    if (!result.ok) throw new DependencyError(setting.env);
    return result.value as V;
  };

  const config: Record<string, unknown> = {};
  const issues: ConfigIssue[] = [];
  for (const [key, setting] of Object.entries(settings)) {
    const result = resolve(setting);
    if (result.ok) config[key] = result.value;
    else issues.push({ env: setting.env, message: result.message });
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return config as ConfigOf<T>;
}

class DependencyError extends Error {
  constructor(readonly env: string) {
    super(`depends on ${env}, which is invalid`);
  }
}

function resolveOne(setting: Setting<z.ZodTypeAny, unknown>, env: Env, read: SettingReader): Resolution {
  try {
    const raw = env[setting.env];
    // An empty variable is how compose files and Helm templates say "unset".
    const present = raw !== undefined && raw !== '';
    if (!present && setting.requiredWhen) {
      const controlling = setting.requiredWhen.setting;
      const values = requiredWhenValues(setting.requiredWhen);
      if (!values.includes(String(read(controlling)))) return { ok: true, value: undefined };
      if (setting.default === undefined) {
        return {
          ok: false,
          message: `required when ${controlling.env} is ${values.join(' or ')}`,
        };
      }
    }
    let input: unknown = raw;
    if (!present) {
      if (setting.default === undefined) {
        if (setting.schema.safeParse(undefined).success) return { ok: true, value: undefined };
        return { ok: false, message: 'required' };
      }
      input = typeof setting.default === 'function' ? setting.default(read) : setting.default;
    }
    const parsed = setting.schema.safeParse(input);
    if (parsed.success) return { ok: true, value: parsed.data };
    const message = parsed.error.issues.map((issue) => issue.message).join('; ');
    return {
      ok: false,
      message: setting.sensitive && present ? scrub(message, raw) : message,
    };
  } catch (error) {
    if (error instanceof DependencyError) return { ok: false, message: error.message };
    throw error;
  }
}

/** Schema messages are ours and avoid echoing input, but a custom schema might not; never let a secret through. */
function scrub(message: string, secret: string): string {
  return message.split(secret).join('[REDACTED]');
}
