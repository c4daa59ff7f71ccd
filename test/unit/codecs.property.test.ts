/**
 * Property tests for the framing codecs (fast-check). Every property feeds the decoder the way
 * a socket does: fresh chunks, cut at arbitrary points, and keeps the delivered views (no copy)
 * until the end, so a decoder that reused memory behind a delivered message would be caught.
 *
 * Every property runs in a worker thread: a decoder stuck in a loop cannot be interrupted on
 * the thread running it, but a worker can be terminated, so a hang fails its test at the
 * deadline instead of hanging the whole run. The worker reports fast-check's own message
 * (seed, shrunk counterexample) back to the test.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import fc from 'fast-check';
import {
  ByteBuffer,
  FrameTooLargeError,
  LengthCodec,
  LineCodec,
  LineTooLongError,
  type ByteOrder,
  type Codec,
  type MessageSink,
} from '../../src/index.js';

type Event = { kind: 'deliver'; message: Buffer } | { kind: 'fail'; error: Error };

/** Records deliveries by reference (no copy): a view the decoder later overwrote would show. */
class RecordingSink implements MessageSink {
  readonly events: Event[] = [];
  deliver(message: Buffer): void {
    this.events.push({ kind: 'deliver', message });
  }
  fail(error: Error): void {
    this.events.push({ kind: 'fail', error });
  }
  get messages(): Buffer[] {
    return this.events.flatMap((e) => (e.kind === 'deliver' ? [e.message] : []));
  }
  get failures(): Error[] {
    return this.events.flatMap((e) => (e.kind === 'fail' ? [e.error] : []));
  }
}

function encodeAll(codec: Codec, messages: readonly Uint8Array[]): Buffer {
  const out = new ByteBuffer();
  for (const message of messages) codec.encode(message, out);
  return Buffer.from(out.peek());
}

function header(length: number, byteOrder: ByteOrder): Buffer {
  const h = Buffer.alloc(4);
  if (byteOrder === 'little') h.writeUInt32LE(length);
  else h.writeUInt32BE(length);
  return h;
}

/**
 * Cuts `wire` at the given points (taken modulo its length, sorted, deduplicated) into fresh
 * chunks, as a socket hands over freshly allocated memory for every read.
 */
function split(wire: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => (wire.length === 0 ? 0 : c % (wire.length + 1))))].filter((c) => c > 0 && c < wire.length).sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const to of [...points, wire.length]) {
    if (to > from) chunks.push(Buffer.from(wire.subarray(from, to)));
    from = to;
  }
  return chunks;
}

/** Bytes, mostly small, sometimes several KB (several socket reads' worth). */
const bytesArb = fc.oneof(
  { weight: 6, arbitrary: fc.uint8Array({ maxLength: 24 }) },
  { weight: 3, arbitrary: fc.uint8Array({ minLength: 25, maxLength: 600 }) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 2000, maxLength: 9000 }) },
);
/** Bytes with no '\n' and no '\r': a line's content. */
const lineArb = bytesArb.map((bytes) => bytes.map((b) => (b === 0x0a || b === 0x0d ? b + 1 : b)));
const cutsArb = fc.array(fc.nat(), { maxLength: 48 });
const byteOrderArb = fc.constantFrom<ByteOrder>('little', 'big');

// ---------------------------------------------------------------------------------------------
// The fuzz property: random (or half-valid) bytes in random chunks.

interface FuzzCase {
  codec: 'length' | 'line';
  byteOrder: ByteOrder;
  max: number;
  bytes: Uint8Array;
  cuts: number[];
}

/** Random bytes, or a stream made of valid frames/lines with garbage mixed in. */
function fuzzArb(): fc.Arbitrary<FuzzCase> {
  const piece = fc.oneof(
    fc.uint8Array({ maxLength: 64 }),
    fc.record({ body: fc.uint8Array({ maxLength: 200 }), order: byteOrderArb }).map(({ body, order }) => Buffer.concat([header(body.length, order), body])),
    fc.record({ length: fc.nat(), order: byteOrderArb }).map(({ length, order }) => header(length, order)),
    lineArb.map((line) => Buffer.concat([line, Buffer.from('\r\n')])),
    fc.constantFrom(Buffer.from('\n'), Buffer.from('\r'), Buffer.from([0xff, 0xff, 0xff, 0xff]), Buffer.from([0, 0, 0, 0])),
  );
  const stream = fc.oneof(
    fc.uint8Array({ maxLength: 4000 }),
    fc.array(piece, { maxLength: 30 }).map((pieces) => new Uint8Array(Buffer.concat(pieces))),
  );
  return fc.record({
    codec: fc.constantFrom<'length' | 'line'>('length', 'line'),
    byteOrder: byteOrderArb,
    max: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 301, max: 0xffff_ffff })),
    bytes: stream,
    cuts: cutsArb,
  });
}

/** Throws (an AssertionError) when a decoder breaks a rule on this input; returns otherwise. */
function checkFuzzCase({ codec: kind, byteOrder, max, bytes, cuts }: FuzzCase): void {
  const codec = kind === 'length' ? new LengthCodec(max, byteOrder) : new LineCodec(max);
  const decoder = codec.createDecoder();
  const sink = new RecordingSink();
  let fed = 0;
  for (const chunk of split(Buffer.from(bytes), cuts)) {
    const before = sink.events.length;
    decoder.decode(chunk, sink); // must not throw: a throw fails the property
    fed += chunk.length;
    const fresh = sink.events.slice(before);
    const failAt = fresh.findIndex((e) => e.kind === 'fail');
    for (const event of fresh) {
      if (event.kind === 'deliver') assert.ok(event.message.length <= max, `delivered ${event.message.length} bytes over the limit ${max}`);
    }
    if (failAt !== -1) {
      // One failure per call, and nothing delivered after it.
      assert.equal(failAt, fresh.length - 1, 'the decoder kept going after sink.fail');
      const error = (fresh[failAt] as { error: Error }).error;
      assert.ok(kind === 'length' ? error instanceof FrameTooLargeError : error instanceof LineTooLongError, `unexpected failure ${String(error)}`);
      return; // The connection is closed now: nothing else matters.
    }
    // Nothing is held beyond what was received, and never more than one message's worth.
    assert.ok(decoder.bufferedBytes <= fed, `holds ${decoder.bufferedBytes} bytes of ${fed} received`);
    assert.ok(decoder.bufferedBytes <= (kind === 'length' ? max + 4 : max + 1), `holds ${decoder.bufferedBytes} bytes with limit ${max}`);
    // The memory set aside (what the input budget counts) covers them and stays within one message and its framing.
    const retained = decoder.retainedBytes ?? -1;
    assert.ok(retained >= decoder.bufferedBytes, `retains ${retained} bytes for ${decoder.bufferedBytes} held`);
    assert.ok(retained <= (kind === 'length' ? max + 4 : max + 2), `retains ${retained} bytes with limit ${max}`);
  }
}

// ---------------------------------------------------------------------------------------------
// The properties, by name: the worker runs one and reports; the tests below ask for them.

interface Outcome {
  failed: boolean;
  runs: number;
  report: string;
}

function check<Ts>(property: fc.IProperty<Ts>, numRuns: number, seed: number): Outcome {
  const details = fc.check(property, { numRuns, seed });
  return { failed: details.failed, runs: details.numRuns, report: details.failed ? (fc.defaultReportMessage(details) ?? 'failed') : '' };
}

const PROPERTIES: Record<string, (numRuns: number, seed: number) => Outcome> = {
  lengthRoundTrip: (numRuns, seed) =>
    check(
      fc.property(fc.array(bytesArb, { maxLength: 20 }), cutsArb, byteOrderArb, fc.nat(16), (messages, cuts, byteOrder, slack) => {
        // The limit is the largest message (plus a little): frames at the limit are accepted.
        const max = messages.reduce((m, b) => Math.max(m, b.length), 0) + slack;
        const codec = new LengthCodec(max, byteOrder);
        const decoder = codec.createDecoder();
        const sink = new RecordingSink();
        let fed = 0;
        for (const chunk of split(encodeAll(codec, messages), cuts)) {
          decoder.decode(chunk, sink);
          fed += chunk.length;
          const consumed = sink.messages.reduce((n, m) => n + 4 + m.length, 0);
          // Exactly the received bytes not yet delivered are held.
          assert.equal(decoder.bufferedBytes, fed - consumed);
        }
        assert.deepEqual(sink.failures.map(String), []);
        // Compared only now: each view must have survived every later chunk unchanged.
        assert.deepEqual(sink.messages, messages.map((m) => Buffer.from(m)));
        assert.equal(decoder.bufferedBytes, 0);
      }),
      numRuns,
      seed,
    ),

  lengthTooLarge: (numRuns, seed) =>
    check(
      fc.property(
        fc.array(bytesArb, { maxLength: 6 }),
        fc.integer({ min: 0, max: 70_000 }),
        fc.integer({ min: 1, max: 0xffff_ffff }),
        fc.uint8Array({ maxLength: 3000 }),
        cutsArb,
        byteOrderArb,
        (prefix, maxSeed, over, bodyStart, cuts, byteOrder) => {
          const max = Math.max(maxSeed, ...prefix.map((m) => m.length));
          const announced = Math.min(max + over, 0xffff_ffff);
          const codec = new LengthCodec(max, byteOrder);
          const decoder = codec.createDecoder();
          const sink = new RecordingSink();
          const good = encodeAll(codec, prefix);
          const headerEnd = good.length + 4;
          const wire = Buffer.concat([good, header(announced, byteOrder), bodyStart]);
          let fed = 0;
          for (const chunk of split(wire, cuts)) {
            decoder.decode(chunk, sink);
            fed += chunk.length;
            if (fed < headerEnd) {
              // Not all of the bad header is in yet: no verdict, and only what was received is held.
              assert.deepEqual(sink.failures.map(String), []);
              const consumed = sink.messages.reduce((n, m) => n + 4 + m.length, 0);
              assert.equal(decoder.bufferedBytes, fed - consumed);
            } else {
              // The chunk completing the header fails the connection, whatever body came with it.
              assert.equal(sink.failures.length, 1, `no failure after ${fed} bytes (header ends at ${headerEnd})`);
              const failure = sink.failures[0];
              assert.ok(failure instanceof FrameTooLargeError);
              assert.equal(failure.code, 'ERR_FRAME_TOO_LARGE');
              assert.equal(failure.announced, announced);
              assert.equal(failure.limit, max);
              assert.equal(decoder.bufferedBytes, 0, 'nothing may stay buffered for the oversized frame');
              assert.equal(sink.events.at(-1)?.kind, 'fail');
              break;
            }
          }
          assert.deepEqual(sink.messages, prefix.map((m) => Buffer.from(m)));
        },
      ),
      numRuns,
      seed,
    ),

  lineRoundTrip: (numRuns, seed) =>
    check(
      fc.property(fc.array(fc.tuple(lineArb, fc.boolean()), { maxLength: 20 }), cutsArb, fc.nat(16), (lines, cuts, slack) => {
        const max = lines.reduce((m, [b]) => Math.max(m, b.length), 0) + slack;
        const decoder = new LineCodec(max).createDecoder();
        const sink = new RecordingSink();
        const wire = Buffer.concat(lines.map(([line, crlf]) => Buffer.concat([line, Buffer.from(crlf ? '\r\n' : '\n')])));
        let fed = 0;
        for (const chunk of split(wire, cuts)) {
          decoder.decode(chunk, sink);
          fed += chunk.length;
          const lastNewline = wire.subarray(0, fed).lastIndexOf(0x0a);
          assert.equal(decoder.bufferedBytes, fed - (lastNewline + 1));
        }
        assert.deepEqual(sink.failures.map(String), []);
        assert.deepEqual(sink.messages, lines.map(([line]) => Buffer.from(line)));
        assert.equal(decoder.bufferedBytes, 0);
      }),
      numRuns,
      seed,
    ),

  lineEncodeDecode: (numRuns, seed) =>
    check(
      fc.property(fc.array(lineArb, { maxLength: 20 }), cutsArb, (lines, cuts) => {
        const codec = new LineCodec(10_000);
        const decoder = codec.createDecoder();
        const sink = new RecordingSink();
        for (const chunk of split(encodeAll(codec, lines), cuts)) decoder.decode(chunk, sink);
        assert.deepEqual(sink.failures.map(String), []);
        assert.deepEqual(sink.messages, lines.map((l) => Buffer.from(l)));
      }),
      numRuns,
      seed,
    ),

  lineTooLong: (numRuns, seed) =>
    check(
      fc.property(
        fc.array(lineArb, { maxLength: 5 }),
        fc.integer({ min: 0, max: 3000 }),
        fc.integer({ min: 1, max: 600 }),
        fc.constantFrom('', '\n', '\r\n', '\r'),
        fc.uint8Array({ maxLength: 100 }),
        cutsArb,
        (prefix, maxSeed, over, terminator, after, cuts) => {
          const max = Math.max(maxSeed, ...prefix.map((l) => l.length));
          const decoder = new LineCodec(max).createDecoder();
          const sink = new RecordingSink();
          const good = Buffer.concat(prefix.map((l) => Buffer.concat([l, Buffer.from('\n')])));
          const long = Buffer.alloc(max + over, 0x78);
          const wire = Buffer.concat([good, long, Buffer.from(terminator), after]);
          const newline = terminator.includes('\n') ? good.length + long.length + terminator.indexOf('\n') : -1;
          // The line is provably too long once max + 2 of its bytes are in (max + 1 may still be
          // max + '\r'), or once its newline is.
          const trigger = Math.min(good.length + max + 2, newline === -1 ? Infinity : newline + 1);
          let fed = 0;
          let failedAt = -1;
          for (const chunk of split(wire, cuts)) {
            decoder.decode(chunk, sink);
            fed += chunk.length;
            if (sink.failures.length > 0) {
              failedAt = fed;
              break;
            }
            assert.ok(decoder.bufferedBytes <= max + 1, `holds ${decoder.bufferedBytes} bytes, limit ${max}`);
          }
          if (wire.length >= trigger) {
            assert.notEqual(failedAt, -1, 'the long line was never rejected');
            assert.ok(failedAt >= trigger, `failed after ${failedAt} bytes, before the line was provably too long (${trigger})`);
            const failure = sink.failures[0];
            assert.ok(failure instanceof LineTooLongError);
            assert.equal(failure.code, 'ERR_LINE_TOO_LONG');
            assert.equal(failure.limit, max);
            assert.equal(decoder.bufferedBytes, 0);
            assert.equal(sink.failures.length, 1);
          } else {
            assert.equal(failedAt, -1);
          }
          assert.deepEqual(sink.messages, prefix.map((l) => Buffer.from(l)));
        },
      ),
      numRuns,
      seed,
    ),

  fuzz: (numRuns, seed) => check(fc.property(fuzzArb(), (c) => checkFuzzCase(c)), numRuns, seed),

  /** A stand-in for a decoder that never returns: proves the hang guard turns it into a failure. */
  __hang__: () => {
    for (;;) {
      // Spins until the worker is terminated.
    }
  },
};

interface WorkerJob {
  codecProperty: string;
  numRuns: number;
  seed: number;
}

if (!isMainThread && typeof (workerData as Partial<WorkerJob> | null)?.codecProperty === 'string') {
  const { codecProperty, numRuns, seed } = workerData as WorkerJob;
  const run = PROPERTIES[codecProperty];
  parentPort?.postMessage(run === undefined ? { failed: true, runs: 0, report: `no property ${codecProperty}` } : run(numRuns, seed));
}

/**
 * Runs the named property in a worker thread; rejects with fast-check's report when it fails,
 * or when it has not finished within `timeoutMs` (a decode call that never returns).
 */
async function runInWorker(name: string, numRuns: number, timeoutMs: number): Promise<void> {
  const seed = (Date.now() ^ Math.floor(Math.random() * 0x7fff_ffff)) | 0;
  const job: WorkerJob = { codecProperty: name, numRuns, seed };
  const worker = new Worker(new URL(import.meta.url), { workerData: job });
  try {
    const outcome = await new Promise<Outcome>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`property ${name} did not finish ${numRuns} runs in ${timeoutMs} ms (seed ${seed}): a decode call hangs`)), timeoutMs);
      worker.once('message', (result: Outcome) => {
        clearTimeout(timer);
        resolve(result);
      });
      worker.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      worker.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`property worker exited with ${code} before reporting`));
      });
    });
    if (outcome.failed) assert.fail(`property ${name} failed (seed ${seed}):\n${outcome.report}`);
    assert.equal(outcome.runs, numRuns);
  } finally {
    // Also stops a worker stuck in a loop: terminate() interrupts running JavaScript.
    await worker.terminate();
  }
}

// ---------------------------------------------------------------------------------------------

const NUM_RUNS = 1000;
const PROPERTY_TIMEOUT_MS = 30_000;

if (isMainThread) describe('codec properties (fast-check, each in a worker that is killed if it hangs)', { timeout: 120_000 }, () => {
  describe('LengthCodec', () => {
    it('decodes any list of frames, cut anywhere, to exactly the messages encoded (both byte orders); views stay valid', { timeout: 40_000 }, () =>
      runInWorker('lengthRoundTrip', NUM_RUNS, PROPERTY_TIMEOUT_MS));

    it('fails a frame over maxMessageBytes as soon as its header is in, before any of its body, holding nothing', { timeout: 40_000 }, () =>
      runInWorker('lengthTooLarge', NUM_RUNS, PROPERTY_TIMEOUT_MS));
  });

  describe('LineCodec', () => {
    it('decodes any list of lines (LF or CRLF), cut anywhere, to exactly the lines sent; views stay valid', { timeout: 40_000 }, () =>
      runInWorker('lineRoundTrip', NUM_RUNS, PROPERTY_TIMEOUT_MS));

    it('encode then decode is the identity for lines without \\r or \\n', { timeout: 40_000 }, () => runInWorker('lineEncodeDecode', NUM_RUNS, PROPERTY_TIMEOUT_MS));

    it('fails a line over maxMessageBytes with LineTooLongError, holding at most max + 1 bytes', { timeout: 40_000 }, () =>
      runInWorker('lineTooLong', NUM_RUNS, PROPERTY_TIMEOUT_MS));
  });

  it('never throws out of decode and never hangs on random bytes in random chunks (length LE/BE, line)', { timeout: 40_000 }, () =>
    runInWorker('fuzz', 3000, PROPERTY_TIMEOUT_MS));

  it('reports a hang as a failure instead of hanging (the guard itself works)', { timeout: 10_000 }, async () => {
    await assert.rejects(runInWorker('__hang__', 1, 2000), /did not finish/);
  });
});
