import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ByteBuffer } from '../../src/index.js';

/** Deterministic PRNG (mulberry32) so a failing random run can be replayed from its seed. */
function prng(seed: number): (below: number) => number {
  let state = seed >>> 0;
  return (below) => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * below);
  };
}

function randomBytes(random: (below: number) => number, n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) out[i] = random(256);
  return out;
}

describe('ByteBuffer', { timeout: 10000 }, () => {
  describe('append, peek and consume', () => {
    it('starts empty, with no storage and the 8 reserved prepend bytes', () => {
      const buf = new ByteBuffer();
      assert.equal(buf.length, 0);
      assert.equal(buf.capacity, 0);
      assert.equal(buf.writableBytes, 0);
      assert.equal(buf.prependableBytes, ByteBuffer.CHEAP_PREPEND);
      assert.equal(ByteBuffer.CHEAP_PREPEND, 8);
      assert.equal(buf.peek().length, 0);
    });

    it('appends bytes and UTF-8 strings (multibyte counted in bytes) and peeks them', () => {
      const buf = new ByteBuffer(4);
      buf.append(Buffer.from([1, 2, 3]));
      buf.append(new Uint8Array([4]));
      buf.append('é✓');
      const expected = Buffer.concat([Buffer.from([1, 2, 3, 4]), Buffer.from('é✓', 'utf8')]);
      assert.equal(buf.length, 4 + 5);
      assert.deepEqual(buf.peek(), expected);
      // peek does not consume
      assert.deepEqual(buf.peek(), expected);
    });

    it('appendUInt32 writes little-endian by default and big-endian on request', () => {
      const buf = new ByteBuffer();
      buf.appendUInt32(0x01020304);
      buf.appendUInt32(0x01020304, false);
      assert.deepEqual(buf.peek(), Buffer.from([4, 3, 2, 1, 1, 2, 3, 4]));
    });

    it('retrieve only moves the read index: later peeks are views into the same memory', () => {
      const buf = new ByteBuffer();
      buf.append('abcdefgh');
      const before = buf.peek();
      buf.retrieve(3);
      const after = buf.peek();
      assert.equal(buf.length, 5);
      assert.equal(buf.prependableBytes, ByteBuffer.CHEAP_PREPEND + 3);
      assert.equal(after.toString(), 'defgh');
      assert.equal(after.buffer, before.buffer);
      assert.equal(after.byteOffset, before.byteOffset + 3);
      // A write through the view is visible to the buffer: nothing was copied.
      after[0] = 0x44;
      assert.equal(buf.byteAt(0), 0x44);
    });

    it('retrieving everything resets the indices and keeps the storage for reuse', () => {
      const buf = new ByteBuffer(32);
      buf.append('0123456789');
      const storage = buf.peek().buffer;
      const capacity = buf.capacity;
      buf.retrieve(4);
      buf.retrieve(6);
      assert.equal(buf.length, 0);
      assert.equal(buf.prependableBytes, ByteBuffer.CHEAP_PREPEND);
      assert.equal(buf.capacity, capacity);
      buf.append('xy');
      assert.equal(buf.peek().buffer, storage);
      buf.retrieveAll();
      assert.equal(buf.length, 0);
      assert.equal(buf.prependableBytes, ByteBuffer.CHEAP_PREPEND);
      assert.equal(buf.capacity, capacity);
    });

    it('take copies out and consumes n bytes, or everything by default', () => {
      const buf = new ByteBuffer();
      buf.append('hello world');
      const hello = buf.take(5);
      assert.equal(hello.toString(), 'hello');
      assert.equal(buf.length, 6);
      // The copy is independent of the storage.
      hello[0] = 0x4a;
      assert.equal(buf.peek().toString(), ' world');
      assert.equal(buf.take().toString(), ' world');
      assert.equal(buf.length, 0);
      assert.equal(buf.take().length, 0);
    });

    it('ensureWritable makes room for at least n bytes', () => {
      const buf = new ByteBuffer(8);
      buf.ensureWritable(100);
      assert.ok(buf.writableBytes >= 100);
      buf.append('abc');
      buf.ensureWritable(5000);
      assert.ok(buf.writableBytes >= 5000);
      assert.equal(buf.peek().toString(), 'abc');
    });
  });

  describe('growth and compaction', () => {
    it('slides the content down instead of growing when the consumed front makes enough room', () => {
      const buf = new ByteBuffer(16);
      buf.append('0123456789abcdef');
      const capacity = buf.capacity;
      const storage = buf.peek().buffer;
      buf.retrieve(10);
      buf.append('ghijklmn'); // 6 left + 8 new fits in 16 once the 10 consumed bytes are reclaimed
      assert.equal(buf.capacity, capacity);
      assert.equal(buf.peek().buffer, storage);
      assert.equal(buf.prependableBytes, ByteBuffer.CHEAP_PREPEND);
      assert.equal(buf.peek().toString(), 'abcdefghijklmn');
    });

    it('grows at least twofold when compaction is not enough, keeping the content', () => {
      const buf = new ByteBuffer(16);
      buf.append('0123456789abcdef');
      const capacity = buf.capacity;
      buf.retrieve(2);
      buf.append('ghijklmnopqrstuvwxyz');
      assert.ok(buf.capacity >= capacity * 2, `capacity ${buf.capacity} < ${capacity * 2}`);
      assert.equal(buf.prependableBytes, ByteBuffer.CHEAP_PREPEND);
      assert.equal(buf.peek().toString(), '23456789abcdefghijklmnopqrstuvwxyz');
    });

    for (const seed of [1, 2, 3, 42, 1234]) {
      it(`matches a plain byte array model under random operations (seed ${seed})`, () => {
        const random = prng(seed);
        const buf = new ByteBuffer(1 + random(64), random(2) === 0 ? ByteBuffer.CHEAP_PREPEND : random(12));
        let model = Buffer.alloc(0);
        for (let step = 0; step < 400; step++) {
          const op = random(8);
          if (op <= 1) {
            const data = randomBytes(random, random(step % 50 === 0 ? 5000 : 300));
            buf.append(data);
            model = Buffer.concat([model, data]);
          } else if (op === 2) {
            const text = 'aé✓🚀'.repeat(random(20));
            buf.append(text);
            model = Buffer.concat([model, Buffer.from(text)]);
          } else if (op === 3) {
            const n = random(model.length + 1);
            buf.retrieve(n);
            model = model.subarray(n);
          } else if (op === 4) {
            const n = random(model.length + 1);
            assert.deepEqual(buf.take(n), model.subarray(0, n));
            model = model.subarray(n);
          } else if (op === 5) {
            const value = random(2 ** 32);
            const littleEndian = random(2) === 0;
            buf.prependUInt32(value, littleEndian);
            const word = Buffer.alloc(4);
            if (littleEndian) word.writeUInt32LE(value);
            else word.writeUInt32BE(value);
            model = Buffer.concat([word, model]);
          } else if (op === 6 && random(10) === 0) {
            assert.ok(buf.detach().equals(model), `detached content differs at step ${step}`);
            model = Buffer.alloc(0);
          } else {
            const value = random(2 ** 31) * 2 + random(2);
            const littleEndian = random(2) === 0;
            buf.appendUInt32(value, littleEndian);
            const word = Buffer.alloc(4);
            if (littleEndian) word.writeUInt32LE(value);
            else word.writeUInt32BE(value);
            model = Buffer.concat([model, word]);
          }
          assert.equal(buf.length, model.length, `length after step ${step}`);
          assert.ok(buf.peek().equals(model), `content differs after step ${step} (op ${op})`);
          assert.ok(buf.prependableBytes + buf.length + buf.writableBytes === buf.capacity || buf.capacity === 0);
        }
      });
    }
  });

  describe('prependUInt32', () => {
    it('writes a little-endian header in the reserved front room without moving the body', () => {
      const buf = new ByteBuffer();
      buf.append('body');
      const body = buf.peek();
      buf.prependUInt32(4);
      const framed = buf.peek();
      assert.deepEqual(framed, Buffer.from([4, 0, 0, 0, 0x62, 0x6f, 0x64, 0x79]));
      assert.equal(framed.buffer, body.buffer);
      assert.equal(framed.byteOffset, body.byteOffset - 4);
      assert.equal(buf.prependableBytes, ByteBuffer.CHEAP_PREPEND - 4);
    });

    it('writes big-endian on request', () => {
      const buf = new ByteBuffer();
      buf.append('x');
      buf.prependUInt32(0x0a0b0c0d, false);
      assert.deepEqual(buf.peek(), Buffer.from([0x0a, 0x0b, 0x0c, 0x0d, 0x78]));
    });

    it('uses both reserved words, then still prepends correctly once the room is gone', () => {
      const buf = new ByteBuffer();
      buf.append('z');
      const body = buf.peek();
      buf.prependUInt32(1);
      buf.prependUInt32(2);
      assert.equal(buf.prependableBytes, 0);
      assert.equal(buf.peek().byteOffset, body.byteOffset - 8);
      buf.prependUInt32(3);
      assert.deepEqual(buf.peek(), Buffer.from([3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0x7a]));
      buf.append('!');
      assert.equal(buf.peek().subarray(12).toString(), 'z!');
    });

    it('works on a buffer built with reservedPrepend 0, with or without content', () => {
      const withBody = new ByteBuffer(16, 0);
      assert.equal(withBody.prependableBytes, 0);
      withBody.append('payload');
      withBody.prependUInt32(7);
      assert.deepEqual(withBody.peek(), Buffer.concat([Buffer.from([7, 0, 0, 0]), Buffer.from('payload')]));
      withBody.append('+');
      assert.equal(withBody.peek().subarray(4).toString(), 'payload+');

      const empty = new ByteBuffer(0, 0);
      empty.prependUInt32(0xdeadbeef, false);
      assert.deepEqual(empty.peek(), Buffer.from([0xde, 0xad, 0xbe, 0xef]));
      empty.retrieveAll();
      empty.append('again');
      assert.equal(empty.peek().toString(), 'again');
    });

    it('on a fresh buffer (no storage yet) becomes the start of the content', () => {
      const buf = new ByteBuffer();
      buf.prependUInt32(3);
      buf.append('abc');
      assert.deepEqual(buf.peek(), Buffer.from([3, 0, 0, 0, 0x61, 0x62, 0x63]));
    });

    it('keeps the header when the buffer grows afterwards', () => {
      const buf = new ByteBuffer(8);
      buf.append('12345678');
      buf.prependUInt32(8);
      buf.append('9'.repeat(100));
      assert.equal(buf.peekUInt32(), 8);
      assert.equal(buf.peek().subarray(4).toString(), '12345678' + '9'.repeat(100));
    });
  });

  describe('detach', () => {
    it('hands the content over as a view and leaves an empty buffer without storage', () => {
      const buf = new ByteBuffer();
      buf.append('first');
      const storage = buf.peek().buffer;
      const view = buf.detach();
      assert.equal(view.toString(), 'first');
      assert.equal(view.buffer, storage);
      assert.equal(buf.length, 0);
      assert.equal(buf.capacity, 0);
      assert.equal(buf.prependableBytes, ByteBuffer.CHEAP_PREPEND);
      // The next write must not scribble over memory the detached view now owns.
      buf.append('second');
      assert.equal(view.toString(), 'first');
      assert.equal(buf.peek().toString(), 'second');
    });

    it('of an empty buffer returns an empty view', () => {
      assert.equal(new ByteBuffer().detach().length, 0);
    });
  });

  describe('inspection', () => {
    it('peekUInt32 reads at an offset in either byte order without consuming', () => {
      const buf = new ByteBuffer();
      buf.append(Buffer.from([0xff, 1, 2, 3, 4, 5]));
      buf.retrieve(1);
      assert.equal(buf.peekUInt32(), 0x04030201);
      assert.equal(buf.peekUInt32(0, false), 0x01020304);
      assert.equal(buf.peekUInt32(1), 0x05040302);
      assert.equal(buf.length, 5);
    });

    it('byteAt indexes from the read position', () => {
      const buf = new ByteBuffer();
      buf.append(Buffer.from([10, 20, 30]));
      buf.retrieve(1);
      assert.equal(buf.byteAt(0), 20);
      assert.equal(buf.byteAt(1), 30);
    });

    it('indexOf searches only the readable bytes, honouring from', () => {
      const buf = new ByteBuffer(16);
      buf.append('a\nb\nc');
      assert.equal(buf.indexOf(0x0a), 1);
      assert.equal(buf.indexOf(0x0a, 2), 3);
      assert.equal(buf.indexOf(0x0a, 4), -1);
      assert.equal(buf.indexOf(0x0a, 99), -1);
      assert.equal(buf.indexOf(0x7a), -1);
      assert.equal(new ByteBuffer().indexOf(0), -1);

      // Consumed bytes in front are not content.
      buf.retrieve(2);
      assert.equal(buf.indexOf(0x61), -1);
      assert.equal(buf.indexOf(0x0a), 1);

      // Nor are stale bytes left behind the write index.
      buf.retrieveAll();
      buf.append('XYZ!');
      buf.retrieveAll();
      buf.append('XY');
      assert.equal(buf.indexOf(0x21), -1);
      assert.equal(buf.indexOf(0x59), 1);
    });

    it('indexOf with a negative from never answers an index outside the content', () => {
      const buf = new ByteBuffer(16);
      buf.append('XYab');
      buf.retrieve(2); // 'X' now sits in the consumed front, two bytes before the content
      let at: number;
      try {
        at = buf.indexOf(0x58, -2);
      } catch (err) {
        assert.ok(err instanceof RangeError);
        return;
      }
      assert.equal(at, -1, `indexOf reported ${at}, a position outside the readable bytes`);
    });
  });

  describe('misuse', () => {
    it('throws RangeError for out-of-range arguments and leaves the content unchanged', () => {
      const buf = new ByteBuffer();
      buf.append('abc');
      assert.throws(() => buf.retrieve(4), RangeError);
      assert.throws(() => buf.retrieve(-1), RangeError);
      assert.throws(() => buf.take(4), RangeError);
      assert.throws(() => buf.byteAt(3), RangeError);
      assert.throws(() => buf.byteAt(-1), RangeError);
      assert.throws(() => buf.peekUInt32(), RangeError);
      assert.throws(() => buf.peekUInt32(-1), RangeError);
      assert.equal(buf.peek().toString(), 'abc');
      assert.throws(() => new ByteBuffer().byteAt(0), RangeError);
      assert.throws(() => new ByteBuffer().peekUInt32(), RangeError);
      assert.throws(() => new ByteBuffer().retrieve(1), RangeError);
    });

    it('rejects counts and offsets that are not integers instead of corrupting the indices', () => {
      const buf = new ByteBuffer();
      buf.append('abcd');
      assert.throws(() => buf.retrieve(Number.NaN), RangeError);
      assert.throws(() => buf.retrieve(1.5), RangeError);
      assert.throws(() => buf.byteAt(Number.NaN), RangeError);
      assert.equal(buf.length, 4);
      assert.equal(buf.peek().toString(), 'abcd');
    });
  });
});
