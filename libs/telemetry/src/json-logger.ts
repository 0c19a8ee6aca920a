import { LoggerService, LogLevel as NestLogLevel } from '@nestjs/common';
import { redact, redactString } from './redact';
import { activeTelemetry } from './start-telemetry';
import { currentSpanIds } from './trace-ids';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'fatal';
export type LogFields = Readonly<Record<string, unknown>>;

const RANK: Record<LogLevel, number> = {
  debug: 10,
  info: 20,
  warn: 30,
  error: 40,
  fatal: 50,
};

const NEST_LEVELS: Record<NestLogLevel, LogLevel> = {
  verbose: 'debug',
  debug: 'debug',
  log: 'info',
  warn: 'warn',
  error: 'error',
  fatal: 'fatal',
};

/**
 * Nest's start-up wiring: a line per module, controller and route (about a hundred in local mode) that buries the
 * banner and any real warning. Their `log` calls are written at debug, where whoever debugs routing looks.
 */
const NEST_WIRING_CONTEXTS = new Set(['InstanceLoader', 'RoutesResolver', 'RouterExplorer']);

// Fields a caller cannot overwrite, so every line can be parsed and correlated the same way.
const CORE_KEYS = new Set(['time', 'level', 'service', 'context', 'msg', 'trace_id', 'span_id']);

export interface JsonLoggerOptions {
  /** Defaults to the running telemetry's service name, then `OTEL_SERVICE_NAME`, then `bctrl`. */
  readonly service?: string;
  readonly context?: string;
  /** Lowest level written; defaults to `LOG_LEVEL`, then `info`. */
  readonly level?: LogLevel;
  /** Receives each line without its newline; stdout by default. */
  readonly write?: (line: string) => void;
}

export function parseLogLevel(value: string | undefined): LogLevel | undefined {
  const normalized = value?.trim().toLowerCase();
  return normalized && normalized in RANK ? (normalized as LogLevel) : undefined;
}

/**
 * One JSON object per line on stdout, with the active trace and span ids so a log line leads to its trace.
 * Secrets are redacted by key name and by shape (API keys, bearer tokens, URL passwords) before writing.
 */
export class JsonLogger implements LoggerService {
  private minRank: number;
  private readonly write: (line: string) => void;

  constructor(private readonly options: JsonLoggerOptions = {}) {
    this.minRank = RANK[options.level ?? parseLogLevel(process.env.LOG_LEVEL) ?? 'info'];
    this.write = options.write ?? ((line) => process.stdout.write(`${line}\n`));
  }

  /** A logger for one class or module; shares level and sink with this one. */
  child(context: string): JsonLogger {
    const child = new JsonLogger({
      ...this.options,
      context,
      write: this.write,
    });
    child.minRank = this.minRank;
    return child;
  }

  isLevelEnabled(level: LogLevel): boolean {
    return RANK[level] >= this.minRank;
  }

  /** Writes one line; `fields` are merged into the top-level object. */
  emit(level: LogLevel, msg: unknown, fields: LogFields = {}, context = this.options.context): void {
    if (!this.isLevelEnabled(level)) return;
    const ids = currentSpanIds();
    const extra: Record<string, unknown> = { ...fields };
    let text: string;
    if (msg instanceof Error) {
      text = msg.message;
      extra.err = msg;
    } else if (isPlainObject(msg)) {
      // Nest and callers sometimes log an object as the message; its `msg`/`message` becomes the text.
      const { msg: inner, message, ...rest } = msg;
      text = stringify(inner ?? message ?? '');
      Object.assign(extra, rest);
    } else {
      text = stringify(msg);
    }
    const record: Record<string, unknown> = {
      time: new Date().toISOString(),
      level,
      service: this.serviceName(),
      // Redacted too: Nest's `error(message, stack)` lands a stack trace (and whatever its message held) here.
      context: context === undefined ? undefined : redactString(context),
      msg: redactString(text),
      trace_id: ids?.traceId,
      span_id: ids?.spanId,
    };
    const safe = redact(extra) as Record<string, unknown>;
    for (const [key, value] of Object.entries(safe)) {
      if (!CORE_KEYS.has(key)) record[key] = value;
    }
    this.write(JSON.stringify(record));
  }

  log(message: unknown, ...optionalParams: unknown[]): void {
    const { context } = splitContext(optionalParams);
    this.nest(NEST_WIRING_CONTEXTS.has(context ?? '') ? 'debug' : 'info', message, optionalParams);
  }

  error(message: unknown, ...optionalParams: unknown[]): void {
    const { context, rest } = splitContext(optionalParams);
    // Nest passes `(message, stack, context)`; a lone string after the message is a stack trace when it looks like one.
    const [first, ...others] = rest;
    if (typeof first === 'string' && /\n\s+at /.test(first)) {
      this.emit('error', message, { stack: first, ...mergeParams(others) }, context ?? this.options.context);
      return;
    }
    this.emit('error', message, mergeParams(rest), context ?? this.options.context);
  }

  warn(message: unknown, ...optionalParams: unknown[]): void {
    this.nest('warn', message, optionalParams);
  }

  debug(message: unknown, ...optionalParams: unknown[]): void {
    this.nest('debug', message, optionalParams);
  }

  verbose(message: unknown, ...optionalParams: unknown[]): void {
    this.nest('debug', message, optionalParams);
  }

  fatal(message: unknown, ...optionalParams: unknown[]): void {
    this.nest('fatal', message, optionalParams);
  }

  setLogLevels(levels: NestLogLevel[]): void {
    const ranks = levels.map((level) => RANK[NEST_LEVELS[level]]);
    this.minRank = ranks.length > 0 ? Math.min(...ranks) : Number.POSITIVE_INFINITY;
  }

  private nest(level: LogLevel, message: unknown, optionalParams: unknown[]): void {
    const { context, rest } = splitContext(optionalParams);
    this.emit(level, message, mergeParams(rest), context ?? this.options.context);
  }

  private serviceName(): string {
    return this.options.service ?? activeTelemetry()?.serviceName ?? (process.env.OTEL_SERVICE_NAME || 'bctrl');
  }
}

/** Nest appends the context name as the last string parameter. */
function splitContext(params: unknown[]): {
  context?: string;
  rest: unknown[];
} {
  const last = params[params.length - 1];
  if (params.length > 0 && (typeof last === 'string' || last === undefined)) {
    return { context: last, rest: params.slice(0, -1) };
  }
  return { rest: params };
}

function mergeParams(params: unknown[]): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  const values: unknown[] = [];
  for (const param of params) {
    if (param instanceof Error) fields.err = param;
    else if (isPlainObject(param)) Object.assign(fields, param);
    else if (param !== undefined) values.push(param);
  }
  if (values.length > 0) fields.params = values;
  return fields;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function stringify(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === undefined) return '';
  try {
    return typeof value === 'object' ? JSON.stringify(redact(value)) : String(value);
  } catch {
    return String(value);
  }
}

let defaultLogger: JsonLogger | undefined;

/** For code outside Nest (bootstrap, scripts, drivers): writes like `JsonLogger`, honouring `LOG_LEVEL`. */
export function log(level: LogLevel, msg: string, fields?: LogFields): void {
  defaultLogger ??= new JsonLogger();
  defaultLogger.emit(level, msg, fields);
}
