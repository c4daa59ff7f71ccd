import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ByteBuffer, FrameTooLargeError, LengthCodec, type ByteOrder, type Decoder } from '../../src/index.js';
import { RecordingSink } from './support.js';


function frame(body: Buffer | string, byteOrder: ByteOrder = 'little'): Buffer {
  const bytes = Buffer.from(body);
  const header = Buffer.alloc(4);
  if (byteOrder === 'little') header.writeUInt32LE(bytes.length);
  else header.writeUInt32BE(bytes.length);
  return Buffer.concat([header, bytes]);
}

function encode(codec: LengthCodec, payload: Parameters<LengthCodec['encode']>[0]): Buffer {
  const out = new ByteBuffer();
  codec.encode(payload, out);
  return Buffer.from(out.peek());
}

function feed(decoder: Decoder, sink: RecordingSink, chunks: readonly Buffer[]): void {
  for (const chunk of chunks) decoder.decode(chunk, sink);
}

describe('LengthCodec', { timeout: 10_000 }, () => {
  describe('encode', () => {
    it('writes a little-endian 4-byte length by default, then the payload', () => {
      const codec = new LengthCodec(1024);
      assert.equal(codec.name, 'length');
      assert.deepEqual(encode(codec, 'abc'), Buffer.from([3, 0, 0, 0, 0x61, 0x62, 0x63]));
    });

    it('writes a big-endian header when asked', () => {
      const codec = new LengthCodec(1024, 'big');
      const body = Buffer.alloc(0x0102, 7);
      const out = encode(codec, body);
      assert.deepEqual(out.subarray(0, 4), Buffer.from([0, 0, 1, 2]));
      assert.deepEqual(out.subarray(4), body);
    });

    it('frames a list of parts as one message, strings as UTF-8', () => {
      const codec = new LengthCodec(1024);
      assert.deepEqual(encode(codec, ['é', Buffer.from([1, 2]), '']), frame(Buffer.from([0xc3, 0xa9, 1, 2])));
    });

    it('frames an empty payload as a bare zero header', () => {
      assert.deepEqual(encode(new LengthCodec(16), Buffer.alloc(0)), Buffer.from([0, 0, 0, 0]));
      assert.deepEqual(encode(new LengthCodec(16, 'big'), ''), Buffer.from([0, 0, 0, 0]));
    });
  });

  describe('decode', () => {
    it('reads a big-endian header as big-endian (and the same bytes mean something else little-endian)', () => {
      const body = Buffer.alloc(258, 0x5a);
      const wire = frame(body, 'big'); // header 00 00 01 02
      const big = new RecordingSink();
      new LengthCodec(1024, 'big').createDecoder().decode(wire, big);
      assert.deepEqual(big.messages, [body]);
      assert.deepEqual(big.failures, []);

      // Read little-endian, 00 00 01 02 announces 0x02010000 bytes: over the limit.
      const little = new RecordingSink();
      new LengthCodec(1024, 'little').createDecoder().decode(wire, little);
      assert.deepEqual(little.messages, []);
      assert.equal(little.failures.length, 1);
      assert.ok(little.failures[0] instanceof FrameTooLargeError);
      assert.equal(little.failures[0].announced, 0x02010000);
    });

    it('delivers a zero-length frame as an empty message, and keeps going', () => {
      const sink = new RecordingSink();
      const decoder = new LengthCodec(16).createDecoder();
      decoder.decode(Buffer.concat([frame(''), frame('x'), frame(''), frame('')]), sink);
      assert.deepEqual(sink.messages.map((m) => m.toString()), ['', 'x', '', '']);
      assert.equal(decoder.bufferedBytes, 0);
    });

    it('accepts a zero-length frame even with maxMessageBytes 0', () => {
      const sink = new RecordingSink();
      new LengthCodec(0).createDecoder().decode(frame(''), sink);
      assert.deepEqual(sink.messages, [Buffer.alloc(0)]);
      assert.deepEqual(sink.failures.map(String), []);
    });

    for (const byteOrder of ['little', 'big'] as const) {
      it(`reassembles a frame fed one byte at a time, header included (${byteOrder}-endian)`, () => {
        const sink = new RecordingSink();
        const decoder = new LengthCodec(1024, byteOrder).createDecoder();
        const wire = Buffer.concat([frame('split header', byteOrder), frame('second', byteOrder)]);
        for (let i = 0; i < wire.length; i++) {
          decoder.decode(wire.subarray(i, i + 1), sink);
          // Nothing is buffered beyond the bytes received and not yet delivered.
          const delivered = sink.messages.reduce((n, m) => n + 4 + m.length, 0);
          assert.equal(decoder.bufferedBytes, i + 1 - delivered, `after byte ${i}`);
        }
        assert.deepEqual(sink.messages.map((m) => m.toString()), ['split header', 'second']);
        assert.deepEqual(sink.failures.map(String), []);
      });
    }

    it('holds a 1-, 2- and 3-byte partial header and completes it from the next chunk', () => {
      for (const cut of [1, 2, 3]) {
        const sink = new RecordingSink();
        const decoder = new LengthCodec(1024).createDecoder();
        const wire = frame('abcdef');
        decoder.decode(wire.subarray(0, cut), sink);
        assert.equal(decoder.bufferedBytes, cut);
        assert.equal(sink.messages.length, 0);
        decoder.decode(wire.subarray(cut), sink);
        assert.deepEqual(sink.messages.map((m) => m.toString()), ['abcdef']);
        assert.equal(decoder.bufferedBytes, 0);
      }
    });

    it('delivers many frames from one chunk, in order, and holds back a trailing partial one', () => {
      const sink = new RecordingSink();
      const decoder = new LengthCodec(1024).createDecoder();
      const bodies = Array.from({ length: 500 }, (_, i) => `frame ${i}`);
      const whole = Buffer.concat(bodies.map((b) => frame(b)));
      const tail = frame('tail');
      decoder.decode(Buffer.concat([whole, tail.subarray(0, 6)]), sink);
      assert.deepEqual(sink.messages.map((m) => m.toString()), bodies);
      assert.equal(decoder.bufferedBytes, 6);
      decoder.decode(tail.subarray(6), sink);
      assert.equal(sink.messages.at(-1)?.toString(), 'tail');
      assert.equal(decoder.bufferedBytes, 0);
    });

    it('accepts a frame of exactly maxMessageBytes and rejects one byte more as soon as its header is in', () => {
      const sink = new RecordingSink();
      const decoder = new LengthCodec(100).createDecoder();
      decoder.decode(frame(Buffer.alloc(100, 1)), sink);
      assert.equal(sink.messages.length, 1);
      const header = Buffer.alloc(4);
      header.writeUInt32LE(101);
      decoder.decode(header, sink);
      assert.equal(sink.failures.length, 1);
      const failure = sink.failures[0];
      assert.ok(failure instanceof FrameTooLargeError);
      assert.equal(failure.code, 'ERR_FRAME_TOO_LARGE');
      assert.equal(failure.announced, 101);
      assert.equal(failure.limit, 100);
      assert.equal(decoder.bufferedBytes, 0);
    });

    it('delivers the frames in front of an oversized header before failing', () => {
      const sink = new RecordingSink();
      const decoder = new LengthCodec(8).createDecoder();
      decoder.decode(Buffer.concat([frame('ok'), frame('still ok'), Buffer.from([0xff, 0xff, 0xff, 0xff]), Buffer.alloc(10)]), sink);
      assert.deepEqual(sink.messages.map((m) => m.toString()), ['ok', 'still ok']);
      assert.equal(sink.failures.length, 1);
      assert.ok(sink.failures[0] instanceof FrameTooLargeError);
    });

    it('keeps delivered messages intact while later chunks arrive (views are never overwritten)', () => {
      const sink = new RecordingSink();
      const decoder = new LengthCodec(1 << 16).createDecoder();
      const bodies = [Buffer.alloc(3000, 0xa1), Buffer.alloc(5000, 0xb2), Buffer.alloc(10, 0xc3), Buffer.alloc(7000, 0xd4)];
      const wire = Buffer.concat(bodies.map((b) => frame(b)));
      // Uneven chunks so some frames come straight from a chunk and some from held bytes.
      const cuts = [1, 2, 2500, 3010, 3011, 9000, 9500, wire.length];
      let from = 0;
      for (const to of cuts) {
        feed(decoder, sink, [Buffer.from(wire.subarray(from, to))]);
        from = to;
      }
      assert.deepEqual(sink.messages, bodies);
    });
  });
});
