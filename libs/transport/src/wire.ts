import type { DescMessage, MessageInitShape, MessageShape } from '@bufbuild/protobuf';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import type { RpcMethod } from '@bctrl/contracts';
import { ErrorSchema, PrincipalSchema } from '@bctrl/contracts';
import type { ErrorDetail, Principal, Role } from '@bctrl/core';
import { BctrlError, ROLES } from '@bctrl/core';
import { redactString } from '@bctrl/telemetry';
import type { CallContext, Handler } from './transport';

/**
 * Header names are part of the wire contract between services of different versions: frozen once shipped.
 * `bctrl-principal` holds the contracts `Principal` message as base64 protobuf binary (headers are text, and
 * binary keeps unknown fields of a newer sender intact). `bctrl-error: 1` marks a reply whose body is the
 * contracts `Error` message instead of the method's response.
 */
export const PRINCIPAL_HEADER = 'bctrl-principal';
export const ERROR_HEADER = 'bctrl-error';

export const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_ACK_WAIT_MS = 30_000;
export const DEFAULT_MAX_BATCH = 500;
export const DEFAULT_MAX_WAIT_MS = 20;

export interface BatchLimits {
  maxBatch: number;
  maxWaitMs: number;
}

/** A caller's mistake, refused at once rather than turned into a consumer that never hands anything over. */
export function batchLimits(options: { maxBatch?: number; maxWaitMs?: number }): BatchLimits {
  const maxBatch = options.maxBatch ?? DEFAULT_MAX_BATCH;
  const maxWaitMs = options.maxWaitMs ?? DEFAULT_MAX_WAIT_MS;
  const details: ErrorDetail[] = [];
  if (!Number.isInteger(maxBatch) || maxBatch < 1) {
    details.push({ field: 'maxBatch', issue: 'must be a whole number of at least 1' });
  }
  if (!Number.isFinite(maxWaitMs) || maxWaitMs < 0) {
    details.push({ field: 'maxWaitMs', issue: 'must be a finite number of at least 0' });
  }
  if (details.length > 0) throw BctrlError.validation(details);
  return { maxBatch, maxWaitMs };
}

export function encodePrincipal(principal: Principal): string {
  const message =
    principal.kind === 'operator'
      ? create(PrincipalSchema, { kind: 'operator' })
      : create(PrincipalSchema, {
          kind: 'key',
          accountId: principal.accountId,
          subaccountId: principal.subaccountId ?? '',
          spaceIds: principal.spaceIds ?? [],
          role: principal.role,
          keyId: principal.keyId,
        });
  return Buffer.from(toBinary(PrincipalSchema, message)).toString('base64');
}

/** Throws `unauthenticated`: a call whose principal cannot be read must not run under a guessed one. */
export function decodePrincipal(header: string | undefined): Principal {
  if (!header) throw new BctrlError('unauthenticated', 'The call carries no principal.');
  let message;
  try {
    message = fromBinary(PrincipalSchema, Buffer.from(header, 'base64'));
  } catch {
    throw new BctrlError('unauthenticated', 'The call carries a malformed principal.');
  }
  if (message.kind === 'operator') return { kind: 'operator' };
  if (message.kind === 'key' && isRole(message.role) && message.accountId && message.keyId) {
    return {
      kind: 'key',
      accountId: message.accountId,
      subaccountId: message.subaccountId || null,
      spaceIds: message.spaceIds.length > 0 ? [...message.spaceIds] : null,
      role: message.role,
      keyId: message.keyId,
    };
  }
  throw new BctrlError('unauthenticated', 'The call carries a malformed principal.');
}

function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

/**
 * An error on its way to another service, redacted by the process that raised it: the one that knows which secret
 * values it has seen (a provider's or a proxy's refusal may quote what it was sent).
 */
export function encodeError(error: BctrlError): Uint8Array {
  return toBinary(
    ErrorSchema,
    create(ErrorSchema, {
      code: error.code,
      message: redactString(error.message),
      details: error.details.map((detail) => ({
        field: detail.field ?? '',
        issue: redactString(detail.issue),
      })),
    }),
  );
}

export function decodeError(body: Uint8Array): BctrlError {
  let message;
  try {
    message = fromBinary(ErrorSchema, body);
  } catch {
    return new BctrlError('internal', 'The service answered with an unreadable error.');
  }
  // An unknown code comes from a newer service; the caller can still act on it as a server fault.
  const code = BctrlError.isCode(message.code) ? message.code : 'internal';
  const details: ErrorDetail[] = message.details.map((detail) =>
    detail.field ? { field: detail.field, issue: detail.issue } : { issue: detail.issue },
  );
  return new BctrlError(code, message.message, details);
}

/**
 * What crosses the wire for a thrown error. Anything but a BctrlError may carry internals (SQL, paths,
 * secrets) in its message, so the caller only learns that something failed; the details go to stderr.
 */
export function toWireError(error: unknown, subject: string): BctrlError {
  if (error instanceof BctrlError) return error;
  logError('handler failed', subject, error);
  return new BctrlError('internal', 'The service failed to handle the request.');
}

export function logError(msg: string, subject: string, error: unknown): void {
  const entry = {
    level: 'error',
    time: new Date().toISOString(),
    msg,
    subject,
    error: error instanceof Error ? { name: error.name, message: error.message, stack: error.stack } : String(error),
  };
  process.stderr.write(`${JSON.stringify(entry)}\n`);
}

export function encodeMessage<Schema extends DescMessage>(schema: Schema, init: MessageInitShape<Schema>): Uint8Array {
  return toBinary(schema, create(schema, init));
}

/** Undecodable input is the sender's fault, so it is reported as a validation failure rather than a crash. */
export function decodeMessage<Schema extends DescMessage>(schema: Schema, body: Uint8Array): MessageShape<Schema> {
  try {
    return fromBinary(schema, body);
  } catch {
    throw new BctrlError('validation_failed', `The payload is not a valid ${schema.typeName}.`);
  }
}

/**
 * An event's payload and principal, read the same way by every consumer of both transports. Throws when
 * either cannot be read: such an event is dropped, since redelivering what nobody can read would loop forever.
 */
export function decodeEvent<Schema extends DescMessage>(
  schema: Schema,
  body: Uint8Array,
  principalHeader: string | undefined,
): { payload: MessageShape<Schema>; context: CallContext } {
  const payload = decodeMessage(schema, body);
  return { payload, context: { principal: decodePrincipal(principalHeader) } };
}

export interface WireReply {
  isError: boolean;
  body: Uint8Array;
}

/** The server half of a call, shared by both transports so that they cannot drift apart. */
export async function runHandler<Req extends DescMessage, Res extends DescMessage>(
  method: RpcMethod<Req, Res>,
  handler: Handler<Req, Res>,
  body: Uint8Array,
  principalHeader: string | undefined,
): Promise<WireReply> {
  try {
    const context: CallContext = {
      principal: decodePrincipal(principalHeader),
    };
    const request = decodeMessage(method.request, body);
    const response = await handler(request, context);
    return { isError: false, body: encodeMessage(method.response, response) };
  } catch (error) {
    return {
      isError: true,
      body: encodeError(toWireError(error, method.subject)),
    };
  }
}

export function readReply<Res extends DescMessage>(
  method: RpcMethod<DescMessage, Res>,
  reply: WireReply,
): MessageShape<Res> {
  if (reply.isError) throw decodeError(reply.body);
  try {
    return fromBinary(method.response, reply.body);
  } catch {
    throw new BctrlError('internal', `The service answered ${method.subject} with an unreadable response.`);
  }
}
