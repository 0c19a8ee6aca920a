import { z } from 'zod';

// Env values are strings, and z.coerce.boolean() turns "false" into true, so booleans need their own parser.
const TRUE = new Set(['true', '1', 'yes', 'on']);
const FALSE = new Set(['false', '0', 'no', 'off']);

export const envBoolean = (): z.ZodType<boolean, z.ZodTypeDef, string | boolean> =>
  z.union([z.boolean(), z.string()]).transform((value, ctx) => {
    if (typeof value === 'boolean') return value;
    const normalized = value.trim().toLowerCase();
    if (TRUE.has(normalized)) return true;
    if (FALSE.has(normalized)) return false;
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      message: 'expected a boolean (true/false, 1/0, yes/no)',
    });
    return z.NEVER;
  });

export const envInteger = (min: number, max: number): z.ZodType<number, z.ZodTypeDef, string | number> =>
  z.union([z.number(), z.string()]).transform((value, ctx) => {
    const parsed = typeof value === 'number' ? value : /^\s*-?\d+\s*$/.test(value) ? Number(value) : NaN;
    if (!Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        message: `expected an integer from ${min} to ${max}`,
      });
      return z.NEVER;
    }
    return parsed;
  });

export const envPort = (): z.ZodType<number, z.ZodTypeDef, string | number> => envInteger(0, 65535);

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  kb: 1000,
  kib: 1024,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
};

/** A byte count, as a plain integer or with a unit ("512kib", "1mb"), because operators write sizes both ways. */
export const envBytes = (): z.ZodType<number, z.ZodTypeDef, string | number> =>
  z.union([z.number(), z.string()]).transform((value, ctx) => {
    if (typeof value === 'number' && Number.isSafeInteger(value) && value > 0) return value;
    const match = typeof value === 'string' ? /^\s*(\d+)\s*([a-z]*)\s*$/i.exec(value) : null;
    const unit = match ? SIZE_UNITS[match[2].toLowerCase()] : undefined;
    const bytes = match && unit !== undefined ? Number(match[1]) * unit : NaN;
    if (!Number.isSafeInteger(bytes) || bytes <= 0) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        message: 'expected a positive byte size such as 1048576 or 1mib',
      });
      return z.NEVER;
    }
    return bytes;
  });

export const envUrl = (protocols?: readonly string[]): z.ZodType<string, z.ZodTypeDef, string> =>
  z.string().superRefine((value, ctx) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'expected a URL' });
      return;
    }
    if (protocols && !protocols.includes(url.protocol.replace(/:$/, ''))) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        message: `expected a ${protocols.join('/')} URL`,
      });
    }
  });

/** One of a fixed list; the message names the choices but not the received value, which may be a secret. */
export const envEnum = <const T extends readonly [string, ...string[]]>(
  values: T,
): z.ZodType<T[number], z.ZodTypeDef, string> =>
  z.string().refine((value): value is T[number] => (values as readonly string[]).includes(value), {
    message: `expected one of ${values.join(', ')}`,
  }) as unknown as z.ZodType<T[number], z.ZodTypeDef, string>;

export const envString = (): z.ZodString => z.string().min(1, 'expected a non-empty string');
