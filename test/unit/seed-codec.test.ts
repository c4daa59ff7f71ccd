import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ByteBuffer, MAX_FRAME_PAYLOAD, SeedCodec } from '../../src/index.js';
import { RecordingSink } from './support.js';

function header(n: number): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt32LE(n);
  return h;
}

/** Splits a stream of seed frames back into bodies, failing on a torn frame. */
function parseFrames(stream: Buffer): Buffer[] {
  const frames: Buffer[] = [];
  let at = 0;
  while (at < stream.length) {
    assert.ok(at + 4 <= stream.length, 'torn header');
    const n = stream.readUInt32LE(at);
    assert.ok(at + 4 + n <= stream.length, 'torn body');
    frames.push(stream.subarray(at + 4, at + 4 + n));
    at += 4 + n;
  }
  return frames;
}


describe('SeedCodec', { timeout: 10000 }, () => {
  const codec = new SeedCodec();

  it('is named "seed"', () => {
    assert.equal(codec.name, 'seed');
  });

  describe('encode', () => {
    it('writes a 4-byte little-endian length, then the bytes of a Buffer', () => {
      const out = new ByteBuffer();
      const payload = Buffer.from([0, 1, 0xfe, 0xff]);
      assert.equal(codec.encode(payload, out), 4);
      assert.deepEqual(out.peek(), Buffer.from([4, 0, 0, 0, 0, 1, 0xfe, 0xff]));
    });

    it('puts the low byte first for lengths that need several bytes', () => {
      const out = new ByteBuffer();
      const payload = Buffer.alloc(0x010203, 7);
      codec.encode(payload, out);
      assert.deepEqual(out.peek().subarray(0, 4), Buffer.from([0x03, 0x02, 0x01, 0x00]));
      assert.equal(out.length, 4 + 0x010203);
      assert.ok(out.peek().subarray(4).equals(payload));
    });

    it('encodes a string as UTF-8 and counts its length in bytes, not characters', () => {
      const out = new ByteBuffer();
      const text = 'héllo ✓ 🚀';
      const bytes = Buffer.from(text, 'utf8');
      assert.notEqual(bytes.length, text.length);
      assert.equal(codec.encode(text, out), bytes.length);
      assert.deepEqual(out.peek(), Buffer.concat([header(bytes.length), bytes]));
    });

    it('sends an array of parts as one frame with their summed length', () => {
      const out = new ByteBuffer();
      const parts = [Buffer.from('[Server Reply]: '), new Uint8Array([0xc3, 0x28]), 'ü', Buffer.alloc(0)];
      const body = Buffer.concat([Buffer.from('[Server Reply]: '), Buffer.from([0xc3, 0x28]), Buffer.from('ü')]);
      assert.equal(codec.encode(parts, out), body.length);
      assert.deepEqual(out.peek(), Buffer.concat([header(body.length), body]));
    });

    it('frames an empty payload as a bare zero length', () => {
      for (const empty of [Buffer.alloc(0), '', []]) {
        const out = new ByteBuffer();
        assert.equal(codec.encode(empty, out), 0);
        assert.deepEqual(out.peek(), Buffer.from([0, 0, 0, 0]));
      }
    });

    it('concatenates the frames of several payloads in one buffer, in order', () => {
      // A connection's output buffer: no prepend room, nothing allocated up front.
      const out = new ByteBuffer(0, 0);
      const payloads = ['one', Buffer.from('two'), ['thr', 'ee'], '', Buffer.alloc(3000, 0x61)];
      for (const payload of payloads) codec.encode(payload, out);
      const frames = parseFrames(out.peek());
      assert.deepEqual(
        frames.map((f) => f.toString()),
        ['one', 'two', 'three', '', 'a'.repeat(3000)],
      );
    });

    it('appends after content already in the buffer, leaving it untouched', () => {
      const out = new ByteBuffer();
      out.append('keep');
      codec.encode('x', out);
      assert.deepEqual(out.peek(), Buffer.concat([Buffer.from('keep'), header(1), Buffer.from('x')]));
    });

    it('rejects a payload too large for a 4-byte length before writing anything', () => {
      const mib = Buffer.alloc(1024 * 1024);
      // Parts repeating one buffer add up past 4 GiB without allocating it.
      const parts = Array.from({ length: 4096 }, () => mib);
      assert.equal(4096 * mib.length, MAX_FRAME_PAYLOAD + 1);
      const out = new ByteBuffer();
      assert.throws(() => codec.encode(parts, out), RangeError);
      assert.equal(out.length, 0);
    });
  });

  describe('decoder', () => {
    it('delivers each chunk as exactly one message, bytes unchanged', () => {
      const decoder = codec.createDecoder();
      const sink = new RecordingSink();
      const chunks = [Buffer.from('hello'), Buffer.from([0, 0xff, 0, 4, 0, 0, 0]), Buffer.from('x'.repeat(70000))];
      for (const chunk of chunks) decoder.decode(chunk, sink);
      assert.equal(sink.messages.length, chunks.length);
      sink.messages.forEach((message, i) => assert.ok(message.equals(chunks[i] as Buffer), `message ${i} differs`));
      assert.equal(sink.failures.length, 0);
      assert.equal(decoder.bufferedBytes, 0);
    });

    it('does not parse length headers on input: a chunk that looks like a frame stays whole', () => {
      const decoder = codec.createDecoder();
      const sink = new RecordingSink();
      const looksFramed = Buffer.concat([header(2), Buffer.from('ab'), header(1), Buffer.from('c')]);
      decoder.decode(looksFramed, sink);
      assert.equal(sink.messages.length, 1);
      assert.ok((sink.messages[0] as Buffer).equals(looksFramed));
    });

    it('passes a zero-length chunk through as a zero-length message', () => {
      const decoder = codec.createDecoder();
      const sink = new RecordingSink();
      decoder.decode(Buffer.alloc(0), sink);
      assert.equal(sink.messages.length, 1);
      assert.equal((sink.messages[0] as Buffer).length, 0);
      assert.equal(decoder.bufferedBytes, 0);
    });

    it('keeps no state, so decoders for different connections cannot mix data', () => {
      const a = codec.createDecoder();
      const b = codec.createDecoder();
      const sinkA = new RecordingSink();
      const sinkB = new RecordingSink();
      a.decode(Buffer.from('from a'), sinkA);
      b.decode(Buffer.from('from b'), sinkB);
      a.decode(Buffer.from('again a'), sinkA);
      assert.deepEqual(sinkA.messages.map(String), ['from a', 'again a']);
      assert.deepEqual(sinkB.messages.map(String), ['from b']);
    });
  });
});
