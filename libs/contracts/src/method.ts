import type { DescMessage, MessageInitShape, MessageShape } from '@bufbuild/protobuf';

/**
 * One request/reply call between services. The subject is the wire name (`<service>.<version>.<verb>`)
 * and is frozen once shipped: a breaking change gets a new version in the subject, never an edit.
 */
export interface RpcMethod<Req extends DescMessage = DescMessage, Res extends DescMessage = DescMessage> {
  /** The owning service; its replicas share one NATS queue group named after it. */
  readonly service: string;
  readonly subject: string;
  readonly request: Req;
  readonly response: Res;
}

export function defineMethod<Req extends DescMessage, Res extends DescMessage>(
  service: string,
  subject: string,
  request: Req,
  response: Res,
): RpcMethod<Req, Res> {
  if (!subject.startsWith(`${service}.v`)) {
    throw new Error(`subject ${subject} must start with ${service}.v<version>.`);
  }
  return { service, subject, request, response };
}

export type RequestOf<M> = M extends RpcMethod<infer Req, DescMessage> ? MessageShape<Req> : never;
export type RequestInitOf<M> = M extends RpcMethod<infer Req, DescMessage> ? MessageInitShape<Req> : never;
export type ResponseOf<M> = M extends RpcMethod<DescMessage, infer Res> ? MessageShape<Res> : never;
export type ResponseInitOf<M> = M extends RpcMethod<DescMessage, infer Res> ? MessageInitShape<Res> : never;

/**
 * An event on a run's stream. Subjects are `runs.<runId>.<kind>`; the JetStream stream `RUNS` holds them all.
 */
export interface EventKind<Payload extends DescMessage = DescMessage> {
  readonly kind: string;
  readonly payload: Payload;
}

export const RUNS_STREAM = 'RUNS';
export const RUNS_SUBJECT_PREFIX = 'runs';

export function runSubject(runId: string, kind: string): string {
  return `${RUNS_SUBJECT_PREFIX}.${runId}.${kind}`;
}
