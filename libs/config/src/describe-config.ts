import { z } from 'zod';
import { ConfigOf, requiredWhenValues, Setting, SettingsTable } from './setting';

export const REDACTED = '[REDACTED]';

const SECRET_QUERY_PARAM = /pass|secret|token|key|auth|signature|credential/i;

/**
 * Hides the password in a URL (and secret-looking query parameters) but keeps host, port and user, which are
 * what an operator needs when reading a boot log. Returns the input unchanged when it is not a URL.
 */
export function redactUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return value;
  }
  if (!url.host) return value;
  // The URL setters percent-encode brackets, so write a URL-safe placeholder and swap it afterwards.
  const placeholder = 'REDACTED_BY_BCTRL';
  let changed = false;
  if (url.password) {
    url.password = placeholder;
    changed = true;
  }
  for (const name of [...url.searchParams.keys()]) {
    if (SECRET_QUERY_PARAM.test(name)) {
      url.searchParams.set(name, placeholder);
      changed = true;
    }
  }
  return changed ? url.toString().split(placeholder).join(REDACTED) : value;
}

/** A copy of the loaded config that is safe to log: keyed by env name, secrets hidden, URL credentials hidden. */
export function describeConfig<T extends SettingsTable>(config: ConfigOf<T>, settings: T): Record<string, unknown> {
  const described: Record<string, unknown> = {};
  for (const [key, setting] of Object.entries(settings)) {
    const value = (config as Record<string, unknown>)[key];
    described[setting.env] = describeValue(setting, value);
  }
  return described;
}

function describeValue(setting: Setting<z.ZodTypeAny, unknown>, value: unknown): unknown {
  if (value === undefined || value === null) return value;
  if (typeof value === 'string') {
    const redacted = redactUrl(value);
    if (!setting.sensitive) return redacted;
    // A sensitive URL is still useful to see without its password; any other sensitive value is hidden whole.
    return redacted !== value ? redacted : REDACTED;
  }
  return setting.sensitive ? REDACTED : value;
}

/** The settings as a Markdown table for the README, so the docs are generated from the one declaration. */
export function renderSettingsTable(settings: SettingsTable): string {
  const rows = Object.values(settings).map((setting) => {
    const notes: string[] = [];
    if (setting.requiredWhen) {
      notes.push(
        `${setting.default === undefined ? 'Required' : 'Used'} when \`${setting.requiredWhen.setting.env}\` is ${requiredWhenValues(
          setting.requiredWhen,
        )
          .map((value) => `\`${value}\``)
          .join(' or ')}.`,
      );
    }
    if (setting.sensitive) notes.push('Sensitive: never logged.');
    const description = [setting.description, ...notes].join(' ');
    return `| \`${setting.env}\` | ${cell(renderDefault(setting))} | ${cell(setting.group)} | ${cell(description)} |`;
  });
  return ['| Name | Default | Group | Description |', '| --- | --- | --- | --- |', ...rows].join('\n') + '\n';
}

function renderDefault(setting: Setting<z.ZodTypeAny, unknown>): string {
  if (setting.defaultDoc !== undefined) return setting.defaultDoc;
  if (setting.default === undefined || typeof setting.default === 'function') {
    if (setting.requiredWhen) return '—';
    return setting.schema.safeParse(undefined).success ? '—' : '*(required)*';
  }
  return `\`${String(setting.default)}\``;
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}
