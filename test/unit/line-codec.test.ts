import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ByteBuffer, LineCodec, LineTooLongError } from '../../src/index.js';
import { RecordingSink } from './support.js';

describe('LineCodec', { timeout: 10_000 }, () => {
  describe('encode', () => {
    it('writes the payload and a newline', () => {
      const codec = new LineCodec(64);
      assert.equal(codec.name, 'line');
      const out = new ByteBuffer();
      assert.equal(codec.encode(['ab', Buffer.from('c')], out), 3);
      assert.equal(out.peek().toString(), 'abc\n');
    });

    it('writes an empty payload as a bare newline', () => {
      const out = new ByteBuffer();
      assert.equal(new LineCodec(64).encode('', out), 0);
      assert.deepEqual(Buffer.from(out.peek()), Buffer.from('\n'));
    });
  });

  describe('decode', () => {
    it('splits on \\n and strips one trailing \\r (CRLF clients)', () => {
      const sink = new RecordingSink();
      const decoder = new LineCodec(64).createDecoder();
      decoder.decode(Buffer.from('plain\ncrlf\r\n\r\n\nin\rside\r\n'), sink);
      assert.deepEqual(sink.texts, ['plain', 'crlf', '', '', 'in\rside']);
      assert.equal(decoder.bufferedBytes, 0);
    });

    it('strips only one \\r: "a\\r\\r\\n" is "a\\r"', () => {
      const sink = new RecordingSink();
      new LineCodec(64).createDecoder().decode(Buffer.from('a\r\r\n'), sink);
      assert.deepEqual(sink.texts, ['a\r']);
    });

    it('joins a CRLF split between chunks', () => {
      const sink = new RecordingSink();
      const decoder = new LineCodec(64).createDecoder();
      decoder.decode(Buffer.from('hello\r'), sink);
      assert.equal(sink.texts.length, 0);
      assert.equal(decoder.bufferedBytes, 6);
      decoder.decode(Buffer.from('\nworld\r'), sink);
      decoder.decode(Buffer.from('\n'), sink);
      assert.deepEqual(sink.texts, ['hello', 'world']);
      assert.equal(decoder.bufferedBytes, 0);
    });

    it('reassembles lines fed one byte at a time', () => {
      const sink = new RecordingSink();
      const decoder = new LineCodec(64).createDecoder();
      const wire = Buffer.from('one\r\ntwo\nthree\r\n');
      for (let i = 0; i < wire.length; i++) decoder.decode(wire.subarray(i, i + 1), sink);
      assert.deepEqual(sink.texts, ['one', 'two', 'three']);
      assert.deepEqual(sink.failures.map(String), []);
    });

    it('delivers many lines from one chunk in order and holds back the partial last one', () => {
      const sink = new RecordingSink();
      const decoder = new LineCodec(64).createDecoder();
      const lines = Array.from({ length: 1000 }, (_, i) => `line ${i}`);
      decoder.decode(Buffer.from(lines.join('\n') + '\npart'), sink);
      assert.deepEqual(sink.texts, lines);
      assert.equal(decoder.bufferedBytes, 4);
    });

    it('accepts a line of exactly maxMessageBytes, with or without \\r', () => {
      const sink = new RecordingSink();
      const decoder = new LineCodec(8).createDecoder();
      decoder.decode(Buffer.from('12345678\n12345678\r\n'), sink);
      assert.deepEqual(sink.texts, ['12345678', '12345678']);
      assert.deepEqual(sink.failures.map(String), []);
    });

    it('fails a complete line one byte over the limit with LineTooLongError', () => {
      const sink = new RecordingSink();
      const decoder = new LineCodec(8).createDecoder();
      decoder.decode(Buffer.from('ok\n123456789\nnever'), sink);
      assert.deepEqual(sink.texts, ['ok']);
      assert.equal(sink.failures.length, 1);
      const failure = sink.failures[0];
      assert.ok(failure instanceof LineTooLongError);
      assert.equal(failure.code, 'ERR_LINE_TOO_LONG');
      assert.equal(failure.limit, 8);
      assert.equal(decoder.bufferedBytes, 0);
    });

    it('fails a partial line once it cannot fit any more, without waiting for the newline', () => {
      const sink = new RecordingSink();
      const decoder = new LineCodec(8).createDecoder();
      // 9 bytes may still be 8 + a '\r'; the 10th proves the line is too long.
      decoder.decode(Buffer.from('123456789'), sink);
      assert.deepEqual(sink.failures.map(String), []);
      assert.equal(decoder.bufferedBytes, 9);
      decoder.decode(Buffer.from('0'), sink);
      assert.equal(sink.failures.length, 1);
      assert.ok(sink.failures[0] instanceof LineTooLongError);
      assert.equal(decoder.bufferedBytes, 0);
    });

    it('fails a huge line in a single chunk at once', () => {
      const sink = new RecordingSink();
      const decoder = new LineCodec(1024).createDecoder();
      decoder.decode(Buffer.alloc(1 << 20, 0x61), sink);
      assert.equal(sink.failures.length, 1);
      assert.ok(sink.failures[0] instanceof LineTooLongError);
      assert.equal(decoder.bufferedBytes, 0);
    });

    it('scans each byte for the newline a bounded number of times, however the line is chunked', () => {
      // A peer trickling a long line a byte per read must not make every read rescan the whole
      // partial line: that is quadratic (a 1 MiB line sent a byte at a time costs seconds of
      // event-loop time). Counted, not timed, so the test is deterministic: every search of a
      // Buffer for the newline is charged the bytes it may look at.
      type IndexOf = (this: Buffer, value: unknown, byteOffset?: number, encoding?: BufferEncoding) => number;
      const proto = Buffer.prototype as unknown as { indexOf: IndexOf };
      const original = proto.indexOf;
      let scanned = 0;
      proto.indexOf = function (this: Buffer, value: unknown, byteOffset?: number, encoding?: BufferEncoding): number {
        if (value === 0x0a) scanned += this.length - Math.max(0, byteOffset ?? 0);
        return original.call(this, value, byteOffset, encoding);
      };
      const size = 64 * 1024;
      const sink = new RecordingSink();
      try {
        const decoder = new LineCodec(size).createDecoder();
        for (let i = 0; i < size; i++) decoder.decode(Buffer.from('a'), sink);
        decoder.decode(Buffer.from('\n'), sink);
      } finally {
        proto.indexOf = original;
      }
      assert.equal(sink.messages.length, 1);
      assert.equal(sink.messages[0]?.length, size);
      assert.ok(scanned <= 4 * size, `searched ${scanned} bytes for newlines in a ${size}-byte line (${(scanned / size).toFixed(0)} per byte)`);
    });

    it('keeps delivered lines intact while later chunks arrive', () => {
      const sink = new RecordingSink();
      const decoder = new LineCodec(1 << 16).createDecoder();
      const lines = ['a'.repeat(3000), 'b'.repeat(5000), 'c', 'd'.repeat(7000)];
      const wire = Buffer.from(lines.join('\r\n') + '\r\n');
      let from = 0;
      for (const to of [1, 2999, 3001, 3002, 8003, 8007, 9000, wire.length]) {
        decoder.decode(Buffer.from(wire.subarray(from, to)), sink);
        from = to;
      }
      assert.deepEqual(sink.texts, lines);
    });
  });
});
