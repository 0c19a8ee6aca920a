import { createHash, randomFillSync } from 'node:crypto';

/** RFC 6455 §1.3: the GUID both ends hash with the client's key. */
const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export const OPCODE = {
  continuation: 0x0,
  text: 0x1,
  binary: 0x2,
  close: 0x8,
  ping: 0x9,
  pong: 0xa,
} as const;

/** RFC 6455 §5.5: control frames carry at most 125 payload bytes, a close frame's reason at most 123. */
const MAX_CONTROL_PAYLOAD = 125;
const MAX_CLOSE_REASON_BYTES = 123;

/** Largest payload length a JS number holds exactly (2^53 - 1): the high word of a 64-bit length may use 21 bits. */
const MAX_LENGTH_HIGH_WORD = 0x1fffff;

/** The Sec-WebSocket-Accept value for a Sec-WebSocket-Key (RFC 6455 §4.2.2). */
export function acceptKeyFor(key: string): string {
  return createHash('sha1')
    .update(key + WEBSOCKET_GUID)
    .digest('base64');
}

/** Close codes an endpoint may send in a close frame (RFC 6455 §7.4; 1004-1006 and 1015 are reserved). */
export function isSendableCloseCode(code: number): boolean {
  return (
    Number.isInteger(code) &&
    ((code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) ||
      (code >= 3000 && code <= 4999))
  );
}

/**
 * A close frame. Server frames go unmasked, client frames masked (RFC 6455 §5.3). The reason is cut to 123
 * bytes at a character boundary, so that the peer never sees invalid UTF-8 (which it must treat as an error).
 */
export function encodeCloseFrame(code: number, reason: string, masked: boolean): Buffer {
  if (!isSendableCloseCode(code)) throw new RangeError(`invalid WebSocket close code ${code}`);
  const reasonBytes = truncateUtf8(reason, MAX_CLOSE_REASON_BYTES);
  const payloadLength = 2 + reasonBytes.length;
  const headerLength = masked ? 6 : 2;
  const frame = Buffer.allocUnsafe(headerLength + payloadLength);
  frame[0] = 0x80 | OPCODE.close;
  frame[1] = (masked ? 0x80 : 0) | payloadLength;
  const payloadStart = headerLength;
  frame.writeUInt16BE(code, payloadStart);
  reasonBytes.copy(frame, payloadStart + 2);
  if (masked) {
    // RFC 6455 §5.3 wants a key that intermediaries cannot predict.
    const key = randomFillSync(frame.subarray(2, 6));
    for (let i = 0; i < payloadLength; i += 1) frame[payloadStart + i] ^= key[i & 3];
  }
  return frame;
}

function truncateUtf8(text: string, maxBytes: number): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return bytes;
  let end = maxBytes;
  // Step back over continuation bytes (10xxxxxx) to the start of the character that does not fit.
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end -= 1;
  return bytes.subarray(0, end);
}

/**
 * Receives what a {@link FrameParser} finds. Calls come per frame (or per frame piece in a chunk), never per
 * byte; `chunk` is the caller's buffer, which a listener must neither modify nor copy eagerly if it can avoid it.
 */
export interface FrameListener {
  /** A text or binary message begins; returning false skips its payload (the parser still tracks frames). */
  onMessageStart(opcode: number): boolean;
  /**
   * A piece of the current message's payload: `chunk[start..end)`, still masked when `maskKey` is not 0.
   * `maskPhase` is the position of `chunk[start]` within the frame's payload, modulo 4.
   */
  onMessageData(chunk: Buffer, start: number, end: number, maskKey: number, maskPhase: number): void;
  /** The message whose start was accepted is complete. */
  onMessageEnd(): void;
  /** A close frame: its code when it carries one (a close frame may be empty), and its reason. */
  onClose(code: number | undefined, reason: string): void;
}

/**
 * An incremental RFC 6455 frame parser for a byte stream that someone else forwards: it reads frame headers,
 * hands payload pieces to a listener as ranges of the caller's chunks, and keeps track of frame boundaries.
 * Chunks may split a frame (header included) at any byte; one chunk may hold many frames. It never writes to
 * the chunks it reads, and allocates nothing per chunk.
 */
export class FrameParser {
  private inPayload = false;
  /** Header bytes of a header split across chunks; a header is at most 2 + 8 + 4 bytes. */
  private readonly header = Buffer.alloc(14);
  private headerLength = 0;
  private fin = false;
  private opcode = 0;
  private maskKey = 0;
  private remaining = 0;
  private payloadOffset = 0;
  /** A data message is open (its last frame not seen yet), and whether the listener wanted its payload. */
  private messageOpen = false;
  private messageTracked = false;
  private readonly control = Buffer.alloc(MAX_CONTROL_PAYLOAD);
  private controlLength = 0;
  private failure: string | undefined;
  private messageCount = 0;

  constructor(private readonly listener: FrameListener) {}

  /** Complete data (text or binary) messages seen. */
  get messages(): number {
    return this.messageCount;
  }

  /** True between frames: a frame written to the same stream now would not land inside another one. */
  get atFrameBoundary(): boolean {
    return this.failure === undefined && !this.inPayload && this.headerLength === 0;
  }

  /** Why the stream stopped making sense as WebSocket frames; the parser ignores everything after. */
  get failed(): string | undefined {
    return this.failure;
  }

  /**
   * Parses `chunk[start..end)`. With `stopAtFrameEnd`, returns right after the first frame that ends within the
   * range (so a caller can cut a stream at a frame boundary); otherwise, and when no frame ends, returns `end`.
   */
  feed(chunk: Buffer, start = 0, end = chunk.length, stopAtFrameEnd = false): number {
    let pos = start;
    while (pos < end && this.failure === undefined) {
      if (this.inPayload) {
        const take = Math.min(this.remaining, end - pos);
        this.payload(chunk, pos, pos + take);
        pos += take;
        this.remaining -= take;
        this.payloadOffset += take;
        if (this.remaining === 0) {
          this.endFrame();
          if (stopAtFrameEnd) return pos;
        }
        continue;
      }
      if (this.headerLength === 0 && end - pos >= 2) {
        const needed = headerSize(chunk[pos + 1]);
        if (end - pos >= needed) {
          // The usual case: the whole header is in this chunk and is read in place.
          this.startFrame(chunk, pos);
          pos += needed;
          if (this.failure !== undefined) break;
          if (this.remaining === 0) {
            this.endFrame();
            if (stopAtFrameEnd) return pos;
          }
          continue;
        }
      }
      pos = this.bufferHeader(chunk, pos, end);
      if (this.inPayload && this.remaining === 0) {
        this.endFrame();
        if (stopAtFrameEnd) return pos;
      }
    }
    return this.failure === undefined ? pos : end;
  }

  /** Collects a header that a chunk boundary cuts, and starts the frame once it is whole. */
  private bufferHeader(chunk: Buffer, pos: number, end: number): number {
    if (this.headerLength < 2) {
      const take = Math.min(2 - this.headerLength, end - pos);
      chunk.copy(this.header, this.headerLength, pos, pos + take);
      this.headerLength += take;
      pos += take;
      if (this.headerLength < 2) return pos;
    }
    const needed = headerSize(this.header[1]);
    const take = Math.min(needed - this.headerLength, end - pos);
    chunk.copy(this.header, this.headerLength, pos, pos + take);
    this.headerLength += take;
    pos += take;
    if (this.headerLength === needed) {
      this.headerLength = 0;
      this.startFrame(this.header, 0);
    }
    return pos;
  }

  private startFrame(buf: Buffer, at: number): void {
    const b0 = buf[at];
    const b1 = buf[at + 1];
    this.fin = (b0 & 0x80) !== 0;
    this.opcode = b0 & 0x0f;
    let length = b1 & 0x7f;
    let pos = at + 2;
    if (length === 126) {
      length = buf.readUInt16BE(pos);
      pos += 2;
    } else if (length === 127) {
      const high = buf.readUInt32BE(pos);
      if (high > MAX_LENGTH_HIGH_WORD) {
        this.failure = 'frame length beyond 2^53';
        return;
      }
      length = high * 0x1_0000_0000 + buf.readUInt32BE(pos + 4);
      pos += 8;
    }
    this.maskKey = (b1 & 0x80) !== 0 ? buf.readUInt32BE(pos) : 0;
    this.remaining = length;
    this.payloadOffset = 0;
    this.inPayload = true;
    if (this.opcode >= OPCODE.close) {
      this.controlLength = 0;
      return;
    }
    if (this.opcode === OPCODE.text || this.opcode === OPCODE.binary) {
      // A new message while one is open is a protocol error the endpoints will act on; the tap drops the old one.
      this.messageOpen = true;
      this.messageTracked = this.listener.onMessageStart(this.opcode);
    }
  }

  private payload(chunk: Buffer, start: number, end: number): void {
    if (this.opcode >= OPCODE.close) {
      const room = MAX_CONTROL_PAYLOAD - this.controlLength;
      const stop = Math.min(end, start + room);
      for (let i = start; i < stop; i += 1) {
        this.control[this.controlLength] = chunk[i] ^ maskByte(this.maskKey, this.controlLength);
        this.controlLength += 1;
      }
      return;
    }
    if (this.opcode > OPCODE.binary || !this.messageOpen || !this.messageTracked || start === end) return;
    this.listener.onMessageData(chunk, start, end, this.maskKey, this.payloadOffset & 3);
  }

  private endFrame(): void {
    this.inPayload = false;
    if (this.opcode === OPCODE.close) {
      const code = this.controlLength >= 2 ? this.control.readUInt16BE(0) : undefined;
      const reason = this.controlLength > 2 ? this.control.toString('utf8', 2, this.controlLength) : '';
      this.listener.onClose(code, reason);
      return;
    }
    if (this.opcode > OPCODE.binary || !this.fin || !this.messageOpen) return;
    this.messageOpen = false;
    this.messageCount += 1;
    if (this.messageTracked) this.listener.onMessageEnd();
  }
}

function headerSize(secondByte: number): number {
  const length = secondByte & 0x7f;
  return 2 + (length === 126 ? 2 : length === 127 ? 8 : 0) + ((secondByte & 0x80) !== 0 ? 4 : 0);
}

/** The mask byte for payload position `offset` (RFC 6455 §5.3: key byte `offset mod 4`). 0 unmasks nothing. */
function maskByte(maskKey: number, offset: number): number {
  return (maskKey >>> ((3 - (offset & 3)) << 3)) & 0xff;
}

/** A range of a forwarded chunk holding payload bytes, unmasked only when they are copied out. */
interface Segment {
  chunk: Buffer;
  start: number;
  end: number;
  maskKey: number;
  maskPhase: number;
}

/**
 * One message as a {@link MessageCollector} kept it: references to the chunks that carried it, so that
 * copying and unmasking happen when (and if) someone reads it, not while the chunks are being forwarded.
 */
export class CollectedMessage {
  constructor(
    readonly opcode: number,
    /** Payload size in bytes. */
    readonly size: number,
    private readonly whole: Segment[] | null,
    private readonly headSegments: Segment[],
    private readonly tailSegments: Segment[],
    private readonly tailLength: number,
  ) {}

  /** Only head and tail were kept: the message was larger than the collector's limit. */
  get truncated(): boolean {
    return this.whole === null;
  }

  /** The whole unmasked payload; throws for a truncated message. */
  payload(): Buffer {
    if (this.whole === null) throw new Error('the message was truncated: only head() and tail() are kept');
    return copySegments(this.whole, 0, this.size);
  }

  /** The first `bytes` (at most the collector's head size) of the payload, unmasked. */
  head(bytes: number): Buffer {
    const segments = this.whole ?? this.headSegments;
    const available = this.whole ? this.size : sumLength(segments);
    return copySegments(segments, 0, Math.min(bytes, available));
  }

  /** The last `bytes` (at most the collector's tail size) of the payload, unmasked. */
  tail(bytes: number): Buffer {
    if (this.whole !== null) {
      const length = Math.min(bytes, this.size);
      return copySegments(this.whole, this.size - length, length);
    }
    const length = Math.min(bytes, this.tailLength);
    return copySegments(this.tailSegments, this.tailLength - length, length);
  }
}

function sumLength(segments: Segment[]): number {
  let total = 0;
  for (const segment of segments) total += segment.end - segment.start;
  return total;
}

/** Copies `length` payload bytes starting `skip` bytes into the segments, unmasking as it goes. */
function copySegments(segments: Segment[], skip: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let written = 0;
  for (const segment of segments) {
    if (written === length) break;
    const segmentLength = segment.end - segment.start;
    if (skip >= segmentLength) {
      skip -= segmentLength;
      continue;
    }
    const from = segment.start + skip;
    const to = Math.min(segment.end, from + (length - written));
    if (segment.maskKey === 0) {
      segment.chunk.copy(out, written, from, to);
      written += to - from;
    } else {
      let phase = segment.maskPhase + skip;
      for (let i = from; i < to; i += 1) {
        out[written] = segment.chunk[i] ^ maskByte(segment.maskKey, phase);
        written += 1;
        phase += 1;
      }
    }
    skip = 0;
  }
  return out;
}

export interface MessageCollectorOptions {
  /** Messages up to this size are kept whole; larger ones only as head and tail. */
  wholeUpTo: number;
  headBytes: number;
  tailBytes: number;
  /** Which messages to collect, by opcode (text 1, binary 2). */
  accept: (opcode: number) => boolean;
  /** Called on the parser's stack (the hot path) with each complete message: queue it, do not read it there. */
  complete: (message: CollectedMessage) => void;
  /** Called on the parser's stack with each close frame. */
  close?: (code: number | undefined, reason: string) => void;
}

/**
 * A {@link FrameListener} that keeps each message as chunk references: all of them while the message is small,
 * then only enough to cover its head and tail, so that a 10 MB screenshot costs a handful of references.
 */
export class MessageCollector implements FrameListener {
  private opcode = 0;
  private size = 0;
  private whole: Segment[] | null = null;
  private headSegments: Segment[] = [];
  private headLength = 0;
  private tailSegments: Segment[] = [];
  private tailLength = 0;

  constructor(private readonly options: MessageCollectorOptions) {}

  onMessageStart(opcode: number): boolean {
    if (!this.options.accept(opcode)) return false;
    this.opcode = opcode;
    this.size = 0;
    this.whole = [];
    this.headSegments = [];
    this.headLength = 0;
    this.tailSegments = [];
    this.tailLength = 0;
    return true;
  }

  onMessageData(chunk: Buffer, start: number, end: number, maskKey: number, maskPhase: number): void {
    const segment: Segment = { chunk, start, end, maskKey, maskPhase };
    const length = end - start;
    this.size += length;
    if (this.whole !== null) {
      this.whole.push(segment);
      if (this.size <= this.options.wholeUpTo) return;
      this.splitWhole();
      return;
    }
    if (this.headLength < this.options.headBytes) {
      this.headSegments.push(segment);
      this.headLength += length;
    }
    this.tailSegments.push(segment);
    this.tailLength += length;
    this.trimTail();
  }

  onMessageEnd(): void {
    const { opcode, size, whole, headSegments, tailSegments, tailLength } = this;
    this.whole = null;
    this.headSegments = [];
    this.tailSegments = [];
    this.options.complete(new CollectedMessage(opcode, size, whole, headSegments, tailSegments, tailLength));
  }

  onClose(code: number | undefined, reason: string): void {
    this.options.close?.(code, reason);
  }

  /** The message outgrew the whole-message limit: keep the segments covering its head, and its tail. */
  private splitWhole(): void {
    const whole = this.whole ?? [];
    this.whole = null;
    for (const segment of whole) {
      if (this.headLength >= this.options.headBytes) break;
      this.headSegments.push(segment);
      this.headLength += segment.end - segment.start;
    }
    this.tailSegments = whole;
    this.tailLength = this.size;
    this.trimTail();
  }

  private trimTail(): void {
    const { tailBytes } = this.options;
    let first = 0;
    while (first < this.tailSegments.length - 1) {
      const length = this.tailSegments[first].end - this.tailSegments[first].start;
      if (this.tailLength - length < tailBytes) break;
      this.tailLength -= length;
      first += 1;
    }
    if (first > 0) this.tailSegments.splice(0, first);
  }
}
