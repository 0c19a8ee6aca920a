import { parseClientMessage, parseUpstreamMeta } from './cdp-tap';
import {
  acceptKeyFor,
  type CollectedMessage,
  encodeCloseFrame,
  FrameParser,
  MessageCollector,
  type MessageCollectorOptions,
  OPCODE,
} from './ws-frames';

/** A deterministic PRNG (mulberry32), so that a failing split can be replayed. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An independent frame encoder: the parser must read what any RFC 6455 sender writes. */
function frame(opcode: number, payload: Buffer | string, opts: { fin?: boolean; mask?: number[] } = {}): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const fin = opts.fin ?? true;
  let header: Buffer;
  if (data.length < 126) {
    header = Buffer.from([0, data.length]);
  } else if (data.length < 65536) {
    header = Buffer.alloc(4);
    header[1] = 126;
    header.writeUInt16BE(data.length, 2);
  } else {
    header = Buffer.alloc(10);
    header[1] = 127;
    header.writeUInt32BE(Math.floor(data.length / 2 ** 32), 2);
    header.writeUInt32BE(data.length >>> 0, 6);
  }
  header[0] = (fin ? 0x80 : 0) | opcode;
  if (!opts.mask) return Buffer.concat([header, data]);
  header[1] |= 0x80;
  const key = Buffer.from(opts.mask);
  const masked = Buffer.allocUnsafe(data.length);
  for (let i = 0; i < data.length; i += 1) masked[i] = data[i] ^ key[i & 3];
  return Buffer.concat([header, key, masked]);
}

interface Seen {
  messages: { opcode: number; size: number; truncated: boolean; payload?: Buffer; head: Buffer; tail: Buffer }[];
  closes: { code: number | undefined; reason: string }[];
}

function collector(seen: Seen, overrides: Partial<MessageCollectorOptions> = {}): MessageCollector {
  return new MessageCollector({
    wholeUpTo: 1 << 30,
    headBytes: 4096,
    tailBytes: 4096,
    accept: () => true,
    complete: (message: CollectedMessage) =>
      seen.messages.push({
        opcode: message.opcode,
        size: message.size,
        truncated: message.truncated,
        payload: message.truncated ? undefined : message.payload(),
        head: message.head(overrides.headBytes ?? 4096),
        tail: message.tail(overrides.tailBytes ?? 4096),
      }),
    close: (code, reason) => seen.closes.push({ code, reason }),
    ...overrides,
  });
}

function parseInChunks(stream: Buffer, sizes: () => number, overrides: Partial<MessageCollectorOptions> = {}): Seen {
  const seen: Seen = { messages: [], closes: [] };
  const parser = new FrameParser(collector(seen, overrides));
  // Each chunk is its own buffer, as a socket would deliver it, and must come out of the parser unchanged.
  const chunks: Buffer[] = [];
  let pos = 0;
  while (pos < stream.length) {
    const size = Math.min(stream.length - pos, Math.max(1, sizes()));
    chunks.push(Buffer.from(stream.subarray(pos, pos + size)));
    pos += size;
  }
  let consumed = 0;
  for (const chunk of chunks) consumed += parser.feed(chunk);
  expect(consumed).toBe(stream.length);
  expect(Buffer.concat(chunks).equals(stream)).toBe(true);
  expect(parser.atFrameBoundary).toBe(true);
  return seen;
}

const MASK = [0x37, 0xfa, 0x21, 0x3d];
/**
 * Printable pseudo-random bytes, so that a failure shows readable payloads. A block of prime length repeats
 * (generating megabytes byte by byte is slow under jest) without lining up with power-of-two chunk sizes.
 */
function big(length: number, seed: number): Buffer {
  const random = prng(seed);
  const block = Buffer.allocUnsafe(Math.min(length, 65_521));
  for (let i = 0; i < block.length; i += 1) block[i] = 32 + Math.floor(random() * 90);
  return length === block.length ? block : Buffer.allocUnsafe(length).fill(block);
}

/** A stream with every length form, masked and not, fragments with a ping in between, and a close frame. */
function mixedStream(masked: boolean): { stream: Buffer; expected: { opcode: number; payload: Buffer }[] } {
  const mask = masked ? { mask: MASK } : {};
  const small = Buffer.from('{"id":1,"method":"Browser.getVersion"}');
  const medium = big(300, 1); // 16-bit length
  const large = big(70_000, 2); // 64-bit length
  const fragments = [big(10, 3), big(200, 4), big(5, 5)];
  const binary = Buffer.from([0, 1, 2, 250, 255]);
  const stream = Buffer.concat([
    frame(OPCODE.text, small, mask),
    frame(OPCODE.text, medium, mask),
    frame(OPCODE.text, '', mask),
    frame(OPCODE.text, large, mask),
    frame(OPCODE.text, fragments[0], { fin: false, ...mask }),
    frame(OPCODE.ping, 'are you there', mask),
    frame(OPCODE.continuation, fragments[1], { fin: false, ...mask }),
    frame(OPCODE.pong, '', mask),
    frame(OPCODE.continuation, fragments[2], mask),
    frame(OPCODE.binary, binary, mask),
    frame(OPCODE.close, Buffer.concat([Buffer.from([0x0f, 0xa1]), Buffer.from('connection revoked')]), mask),
  ]);
  return {
    stream,
    expected: [
      { opcode: OPCODE.text, payload: small },
      { opcode: OPCODE.text, payload: medium },
      { opcode: OPCODE.text, payload: Buffer.alloc(0) },
      { opcode: OPCODE.text, payload: large },
      { opcode: OPCODE.text, payload: Buffer.concat(fragments) },
      { opcode: OPCODE.binary, payload: binary },
    ],
  };
}

describe('FrameParser with MessageCollector', () => {
  for (const masked of [false, true]) {
    describe(masked ? 'masked (client) frames' : 'unmasked (server) frames', () => {
      const { stream, expected } = mixedStream(masked);
      const whole = parseInChunks(stream, () => stream.length);

      it('reads every message of a whole buffer, joining fragments around interleaved control frames', () => {
        expect(whole.messages.map((m) => ({ opcode: m.opcode, payload: m.payload }))).toEqual(expected);
        expect(whole.messages.map((m) => m.size)).toEqual(expected.map((m) => m.payload.length));
        expect(whole.closes).toEqual([{ code: 4001, reason: 'connection revoked' }]);
      });

      it('gives the same messages fed one byte at a time', () => {
        expect(parseInChunks(stream, () => 1)).toEqual(whole);
      });

      it('gives the same messages for random chunk splits', () => {
        for (const seed of [1, 2, 3, 42, 1337]) {
          const random = prng(seed);
          const splits = parseInChunks(stream, () => 1 + Math.floor(random() * (random() < 0.5 ? 20 : 5000)));
          expect(splits).toEqual(whole);
        }
      });
    });
  }

  it('counts complete data messages, not control frames or fragments', () => {
    const { stream } = mixedStream(true);
    const parser = new FrameParser(collector({ messages: [], closes: [] }));
    parser.feed(stream);
    expect(parser.messages).toBe(6);
  });

  it('skips the payload of messages the listener declines, and still counts them', () => {
    const { stream } = mixedStream(false);
    const seen: Seen = { messages: [], closes: [] };
    const parser = new FrameParser(collector(seen, { accept: (opcode) => opcode === OPCODE.binary }));
    parser.feed(stream);
    expect(seen.messages.map((m) => m.opcode)).toEqual([OPCODE.binary]);
    expect(parser.messages).toBe(6);
  });

  it('stops at each frame end when asked, splitting even a header cut by the chunk', () => {
    const frames = [frame(OPCODE.text, 'a'), frame(OPCODE.text, big(300, 9)), frame(OPCODE.ping, ''), frame(2, 'xyz')];
    const stream = Buffer.concat(frames);
    const ends: number[] = [];
    let at = 0;
    for (const f of frames) ends.push((at += f.length));
    const parser = new FrameParser(collector({ messages: [], closes: [] }));
    // A first chunk ending inside the second frame's 16-bit length.
    const cut = frames[0].length + 3;
    const first = stream.subarray(0, cut);
    expect(parser.feed(first, 0, first.length, true)).toBe(ends[0]);
    expect(parser.atFrameBoundary).toBe(true);
    expect(parser.feed(first, ends[0], first.length, true)).toBe(first.length);
    expect(parser.atFrameBoundary).toBe(false);
    const rest = stream.subarray(cut);
    const found: number[] = [];
    let pos = 0;
    while (pos < rest.length) {
      pos = parser.feed(rest, pos, rest.length, true);
      expect(parser.atFrameBoundary).toBe(true);
      found.push(cut + pos);
    }
    expect(found).toEqual(ends.slice(1));
  });

  it('keeps only head and tail of a message above the limit, unmasked, whatever the splits', () => {
    const payload = big(3 * 1024 * 1024 + 7, 11);
    const stream = Buffer.concat([
      frame(OPCODE.text, payload.subarray(0, 100_001), { fin: false, mask: MASK }),
      frame(OPCODE.continuation, payload.subarray(100_001), { mask: [1, 2, 3, 4] }),
    ]);
    const random = prng(7);
    const seen = parseInChunks(stream, () => 1 + Math.floor(random() * 70_000), { wholeUpTo: 1024 * 1024 });
    expect(seen.messages).toHaveLength(1);
    const [message] = seen.messages;
    expect(message.truncated).toBe(true);
    expect(message.size).toBe(payload.length);
    expect(message.head.equals(payload.subarray(0, 4096))).toBe(true);
    expect(message.tail.equals(payload.subarray(payload.length - 4096))).toBe(true);
  });

  it('fills the head from later chunks when the limit is below the head size', () => {
    const payload = big(10_000, 13);
    const random = prng(3);
    const seen = parseInChunks(frame(OPCODE.text, payload, { mask: MASK }), () => 1 + Math.floor(random() * 50), {
      wholeUpTo: 100,
    });
    expect(seen.messages[0].truncated).toBe(true);
    expect(seen.messages[0].head.equals(payload.subarray(0, 4096))).toBe(true);
    expect(seen.messages[0].tail.equals(payload.subarray(-4096))).toBe(true);
  });

  it('keeps a message exactly at the limit whole', () => {
    const payload = big(5000, 12);
    const seen = parseInChunks(frame(OPCODE.text, payload, { mask: MASK }), () => 999, { wholeUpTo: 5000 });
    expect(seen.messages[0].truncated).toBe(false);
    expect(seen.messages[0].payload?.equals(payload)).toBe(true);
  });

  it('gives 64-byte heads and 160-byte tails for browser messages of any size', () => {
    const sizes = [0, 10, 64, 65, 100, 160, 161, 5_000_000];
    const payloads = sizes.map((size, i) => big(size, 100 + i));
    const stream = Buffer.concat(payloads.map((p) => frame(OPCODE.text, p)));
    const random = prng(5);
    const seen = parseInChunks(stream, () => 1 + Math.floor(random() * 65_536), {
      wholeUpTo: 64,
      headBytes: 64,
      tailBytes: 160,
    });
    expect(seen.messages.map((m) => m.size)).toEqual(sizes);
    seen.messages.forEach((message, i) => {
      const payload = payloads[i];
      expect(message.head.equals(payload.subarray(0, 64))).toBe(true);
      expect(message.tail.equals(payload.subarray(Math.max(0, payload.length - 160)))).toBe(true);
    });
  });

  it('reads a close frame without a code, and one with a code only', () => {
    const seen = parseInChunks(
      Buffer.concat([frame(OPCODE.close, ''), frame(OPCODE.close, Buffer.from([0x03, 0xe8]), { mask: MASK })]),
      () => 1,
    );
    expect(seen.closes).toEqual([
      { code: undefined, reason: '' },
      { code: 1000, reason: '' },
    ]);
  });

  it('gives up on a 64-bit length beyond 2^53 instead of misreading the stream', () => {
    const header = Buffer.from([0x81, 127, 0x00, 0x20, 0, 0, 0, 0, 0, 0]);
    const parser = new FrameParser(collector({ messages: [], closes: [] }));
    parser.feed(header);
    expect(parser.failed).toMatch(/2\^53/);
    expect(parser.atFrameBoundary).toBe(false);
  });
});

describe('encodeCloseFrame', () => {
  it('writes server close frames unmasked and client ones masked, both readable by the parser', () => {
    const server = encodeCloseFrame(4001, 'connection revoked', false);
    expect(server.subarray(0, 4)).toEqual(Buffer.from([0x88, 20, 0x0f, 0xa1]));
    const client = encodeCloseFrame(1001, 'going away', true);
    expect(client[1] & 0x80).toBe(0x80);
    const seen = parseInChunks(Buffer.concat([server, client]), () => 3);
    expect(seen.closes).toEqual([
      { code: 4001, reason: 'connection revoked' },
      { code: 1001, reason: 'going away' },
    ]);
  });

  it('cuts a long reason to 123 bytes without splitting a character', () => {
    const encoded = encodeCloseFrame(1000, 'é'.repeat(100), false);
    expect(encoded[1]).toBe(2 + 122);
    const seen = parseInChunks(encoded, () => encoded.length);
    expect(seen.closes[0].reason).toBe('é'.repeat(61));
  });

  it('refuses codes a close frame may not carry', () => {
    for (const code of [999, 1005, 1006, 1015, 2000, 5000, 4000.5]) {
      expect(() => encodeCloseFrame(code, '', false)).toThrow(RangeError);
    }
  });
});

describe('acceptKeyFor', () => {
  it('matches the example of RFC 6455 §1.3', () => {
    expect(acceptKeyFor('dGhlIHNhbXBsZSBub25jZQ==')).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  });
});

/** Head and tail as the splice keeps them for a browser message. */
function meta(message: string) {
  const bytes = Buffer.from(message);
  return { head: bytes.subarray(0, 64), tail: bytes.subarray(Math.max(0, bytes.length - 160)) };
}

describe('parseUpstreamMeta', () => {
  const screenshot = 'iVBORw0KGgo'.repeat(100_000);

  it('reads the id of a browser-level reply', () => {
    const reply = '{"id":12,"result":{"protocolVersion":"1.3","product":"Chrome/156.0.8078.108","revision":"@x"}}';
    expect(parseUpstreamMeta(meta(reply))).toEqual({ id: 12, error: false });
  });

  it('reads id and sessionId of a large session reply from its two ends', () => {
    const reply = `{"id":7,"result":{"data":"${screenshot}"},"sessionId":"9A3F0C7D2E8B41A6B5C4D3E2F1A0B9C8"}`;
    expect(parseUpstreamMeta(meta(reply))).toEqual({
      id: 7,
      error: false,
      sessionId: '9A3F0C7D2E8B41A6B5C4D3E2F1A0B9C8',
    });
  });

  it('flags error replies', () => {
    const reply = `{"id":3,"error":{"code":-32601,"message":"'Foo.bar' wasn't found"},"sessionId":"S3"}`;
    expect(parseUpstreamMeta(meta(reply))).toEqual({ id: 3, error: true, sessionId: 'S3' });
    expect(parseUpstreamMeta(meta('{"id":4,"error":{"code":-32000,"message":"Not allowed"}}'))).toEqual({
      id: 4,
      error: true,
    });
  });

  it('reads the method of events, with and without a session', () => {
    expect(
      parseUpstreamMeta(meta('{"method":"Page.loadEventFired","params":{"timestamp":1.5},"sessionId":"S1"}')),
    ).toEqual({ error: false, method: 'Page.loadEventFired', sessionId: 'S1' });
    const created =
      '{"method":"Target.targetCreated","params":{"targetInfo":{"targetId":"T1","type":"page","title":"",' +
      '"url":"about:blank","attached":false,"canAccessOpener":false,"browserContextId":"B1"}}}';
    expect(parseUpstreamMeta(meta(created))).toEqual({ error: false, method: 'Target.targetCreated' });
  });

  it('does not mistake a sessionId inside the result for the message session', () => {
    expect(parseUpstreamMeta(meta('{"id":4,"result":{"sessionId":"INNER"}}'))).toEqual({ id: 4, error: false });
    const value = '{"id":5,"result":{"result":{"type":"string","value":",\\"sessionId\\":\\"X\\"}"}}}';
    expect(JSON.parse(value)).toBeDefined();
    expect(parseUpstreamMeta(meta(value))).toEqual({ id: 5, error: false });
  });
});

describe('parseClientMessage', () => {
  const whole = (text: string) => ({ truncated: false as const, size: text.length, payload: Buffer.from(text) });
  const truncated = (text: string) => {
    const bytes = Buffer.from(text);
    return {
      truncated: true as const,
      size: bytes.length,
      head: bytes.subarray(0, 4096),
      tail: bytes.subarray(bytes.length - 4096),
    };
  };
  const filler = 'A'.repeat(2 * 1024 * 1024);

  it('reads id, method and sessionId of a whole command', () => {
    expect(parseClientMessage(whole('{"id":1,"method":"Browser.getVersion"}'))).toEqual({
      id: 1,
      method: 'Browser.getVersion',
    });
    expect(
      parseClientMessage(
        whole('{"sessionId":"S1","params":{"format":"png"},"method":"Page.captureScreenshot","id":9}'),
      ),
    ).toEqual({ id: 9, method: 'Page.captureScreenshot', sessionId: 'S1' });
  });

  it('returns null for anything but a JSON object, and ignores fields of the wrong type', () => {
    expect(parseClientMessage(whole('{"id":1,'))).toBeNull();
    expect(parseClientMessage(whole('[1,2]'))).toBeNull();
    expect(parseClientMessage(whole('"text"'))).toBeNull();
    expect(parseClientMessage(whole('{"id":"1","method":7}'))).toEqual({});
  });

  it('finds the fields of a truncated command at its head', () => {
    const text = `{"id":9,"method":"Runtime.evaluate","params":{"expression":"${filler}"},"sessionId":"S9"}`;
    expect(parseClientMessage(truncated(text))).toEqual({ id: 9, method: 'Runtime.evaluate', sessionId: 'S9' });
  });

  it('finds the fields of a truncated command at its tail, ignoring ids nested in params', () => {
    const text = `{"method":"DOM.setFileInputFiles","params":{"id":77,"files":["${filler}"]},"id":10,"sessionId":"S"}`;
    expect(parseClientMessage(truncated(text))).toEqual({ id: 10, method: 'DOM.setFileInputFiles', sessionId: 'S' });
  });
});
