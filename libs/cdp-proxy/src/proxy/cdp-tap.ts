/**
 * A text message the client sent, as the splice's tap delivers it. Messages above the tap's limit come as their
 * first and last bytes only: CDP commands carrying megabytes (file uploads, huge scripts) would otherwise be
 * copied whole just to read three fields.
 */
export type ClientMessage =
  | { truncated: false; size: number; payload: Buffer }
  | { truncated: true; size: number; head: Buffer; tail: Buffer };

/** What the tap keeps of a message from the browser: enough to read id, error, method and sessionId. */
export interface UpstreamMessageMeta {
  /** Payload size in bytes. */
  size: number;
  /** The first (up to) 64 payload bytes. */
  head: Buffer;
  /** The last (up to) 160 payload bytes; overlaps `head` for short messages. */
  tail: Buffer;
  binary: boolean;
}

export interface ClientCommandFields {
  id?: number;
  method?: string;
  sessionId?: string;
}

export interface UpstreamMessageFields {
  /** Set for replies. */
  id?: number;
  /** A reply carrying `error` instead of `result`. */
  error: boolean;
  /** Set for events. */
  method?: string;
  sessionId?: string;
}

/** Chromium writes replies as `{"id":N,"result":…}` / `{"id":N,"error":…}` and events as `{"method":"…",…`. */
const REPLY_START = /^\{"id":(\d+),"(result|error)":/;
const EVENT_START = /^\{"method":"([^"\\]+)"/;
/** Chromium appends a flattened session's id as the last member of the message. */
const SESSION_END = /,"sessionId":"([^"\\]+)"\}$/;

/**
 * Reads a browser message's id, error flag, event method and sessionId from the head and tail the tap kept,
 * relying on how Chromium serialises them; it never parses the payload (a screenshot reply is megabytes).
 * Bytes are read as latin1: the fields are ASCII, and a head cut inside a multi-byte character must not fail.
 */
export function parseUpstreamMeta(meta: Pick<UpstreamMessageMeta, 'head' | 'tail'>): UpstreamMessageFields {
  const head = meta.head.toString('latin1');
  const fields: UpstreamMessageFields = { error: false };
  const reply = REPLY_START.exec(head);
  if (reply) {
    fields.id = Number(reply[1]);
    fields.error = reply[2] === 'error';
  } else {
    const event = EVENT_START.exec(head);
    if (event) fields.method = event[1];
  }
  const session = SESSION_END.exec(meta.tail.toString('latin1'));
  if (session) fields.sessionId = session[1];
  return fields;
}

/**
 * The id, method and sessionId of a command from the client; null when a whole message is not a JSON object.
 * A truncated message cannot be parsed, so its fields are looked for with patterns: in the head before
 * `"params"`, and in the tail after the params object closes. Clients put these fields around params, which
 * is where the bulk is; a command whose fields sit elsewhere yields what was found.
 */
export function parseClientMessage(message: ClientMessage): ClientCommandFields | null {
  if (message.truncated) return scanTruncatedCommand(message.head, message.tail);
  let parsed: unknown;
  try {
    parsed = JSON.parse(message.payload.toString('utf8'));
  } catch {
    return null;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return null;
  const record = parsed as Record<string, unknown>;
  const fields: ClientCommandFields = {};
  if (typeof record['id'] === 'number') fields.id = record['id'];
  if (typeof record['method'] === 'string') fields.method = record['method'];
  if (typeof record['sessionId'] === 'string') fields.sessionId = record['sessionId'];
  return fields;
}

const ID_FIELD = /"id"\s*:\s*(\d+)/;
const METHOD_FIELD = /"method"\s*:\s*"([^"\\]+)"/;
const SESSION_FIELD = /"sessionId"\s*:\s*"([^"\\]+)"/;

function scanTruncatedCommand(head: Buffer, tail: Buffer): ClientCommandFields {
  const headText = head.toString('latin1');
  const paramsAt = headText.indexOf('"params"');
  const before = paramsAt === -1 ? headText : headText.slice(0, paramsAt);
  const tailText = tail.toString('latin1');
  // The last `}` closes the message; the one before it closes params (or an object nested in it).
  const paramsEnd = tailText.lastIndexOf('}', tailText.length - 2);
  const after = paramsEnd === -1 ? '' : tailText.slice(paramsEnd + 1);
  const fields: ClientCommandFields = {};
  const id = ID_FIELD.exec(before) ?? ID_FIELD.exec(after);
  if (id) fields.id = Number(id[1]);
  const method = METHOD_FIELD.exec(before) ?? METHOD_FIELD.exec(after);
  if (method) fields.method = method[1];
  const session = SESSION_FIELD.exec(before) ?? SESSION_FIELD.exec(after);
  if (session) fields.sessionId = session[1];
  return fields;
}
