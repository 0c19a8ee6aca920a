/**
 * The error codes of API.md and the HTTP status each one maps to. Services throw BctrlError; the
 * transport carries it across the wire as-is and the gateway renders it in the error envelope.
 */
export const ERROR_STATUS = {
  validation_failed: 400,
  unauthenticated: 401,
  budget_exceeded: 402,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  invalid_state: 409,
  payload_too_large: 413,
  range_not_satisfiable: 416,
  unsupported_media_type: 415,
  // A configured outside service answered, but not as hoped (an AI connection's provider refused the test call).
  ai_connection_failed: 422,
  rate_limited: 429,
  internal: 500,
  unavailable: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export interface ErrorDetail {
  /** Dotted path of the offending field (`metadata.owner`, `cursor`, `limit`), when there is one. */
  field?: string;
  issue: string;
}

export class BctrlError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: ErrorDetail[] = [],
  ) {
    super(message);
    this.name = 'BctrlError';
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }

  static isCode(value: string): value is ErrorCode {
    return Object.prototype.hasOwnProperty.call(ERROR_STATUS, value);
  }

  static notFound(kind: string): BctrlError {
    return new BctrlError('not_found', `No such ${kind}.`);
  }

  static validation(details: ErrorDetail[], message = 'The request is not valid.'): BctrlError {
    return new BctrlError('validation_failed', message, details);
  }
}
