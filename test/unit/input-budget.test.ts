/**
 * InputBudget, the bound on unfinished input of one loop: a model-based property (fast-check)
 * over random holdings, plus the cases around its callback. And the decoders' side of it: what
 * they say they retain for a message that arrives in pieces.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LengthCodec, LineCodec, type Decoder } from '../../src/index.js';
import { emptyStats } from '../../src/core/loop-stats.js';
import { InputBudget, type InputClaim } from '../../src/net/input-budget.js';

interface Eviction {
  owner: number;
  held: number;
  total: number;
  /** The largest holding of any other claim when this one was chosen. */
  largestOther: number;
}

/** A budget over owners 0..n-1, recording its evictions and checking each against the model. */
function budgetOf(limit: number, owners: number) {
  const stats = emptyStats();
  const evictions: Eviction[] = [];
  const model = new Array<number>(owners).fill(0);
  const budget: InputBudget<number> = new InputBudget<number>(limit, stats, (owner, held, total) => {
    const largestOther = Math.max(0, ...model.filter((_, i) => i !== owner));
    evictions.push({ owner, held, total, largestOther });
    model[owner] = 0;
  });
  const claims: InputClaim<number>[] = Array.from({ length: owners }, (_, i) => budget.claim(i));
  return { stats, evictions, model, budget, claims };
}

describe('InputBudget', () => {
  it('keeps the total of what claims hold, evicting the largest holders first and only while over the limit (model-based)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5000 }),
        fc.integer({ min: 1, max: 40 }),
        fc.array(fc.tuple(fc.nat(), fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 3000 }))), { maxLength: 300 }),
        (limit, owners, steps) => {
          const { stats, evictions, model, budget, claims } = budgetOf(limit, owners);
          for (const [pick, bytes] of steps) {
            const owner = pick % owners;
            const before = evictions.length;
            model[owner] = bytes;
            budget.set(claims[owner] as InputClaim<number>, bytes);
            const sum = model.reduce((a, b) => a + b, 0);
            // One eviction is always enough: the excess is at most this claim's growth, at most
            // what this claim holds, at most what the largest holds.
            assert.ok(evictions.length - before <= 1, `${evictions.length - before} evictions for one change`);
            // It was of a largest holder, while the total was over the limit.
            for (const e of evictions.slice(before)) {
              assert.ok(e.held >= e.largestOther, `evicted ${e.owner} holding ${e.held} while another held ${e.largestOther}`);
              assert.ok(e.total > limit, `evicted with ${e.total} held, within the limit ${limit}`);
              assert.ok(e.held > 0);
            }
            assert.ok(sum <= limit, `still ${sum} held over the limit ${limit}`);
            assert.equal(stats.bufferedInput, sum);
            assert.equal(budget.total, sum);
            assert.equal(budget.holders, model.filter((b) => b > 0).length);
            assert.equal(budget.largest()?.bytes ?? 0, Math.max(0, ...model));
            claims.forEach((claim, i) => assert.equal(claim.bytes, model[i]));
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('stops evicting as soon as the total is within the limit', () => {
    const { evictions, budget, claims } = budgetOf(100, 4);
    budget.set(claims[0]!, 40);
    budget.set(claims[1]!, 30);
    budget.set(claims[2]!, 20);
    assert.equal(evictions.length, 0);
    // 40 + 30 + 20 + 35 = 125: closing the 40 is enough.
    budget.set(claims[3]!, 35);
    assert.deepEqual(evictions.map((e) => [e.owner, e.held, e.total]), [[0, 40, 125]]);
    assert.equal(budget.total, 85);
    // Now 30 + 20 + 35 -> the 35 grows to 100: 150 held; the 100 goes first, and that suffices.
    budget.set(claims[3]!, 100);
    assert.deepEqual(evictions.map((e) => [e.owner, e.held, e.total]), [[0, 40, 125], [3, 100, 150]]);
    assert.equal(budget.total, 50);
    // An evicted claim holds nothing; the owner's own release afterwards changes nothing.
    assert.equal(claims[3]!.bytes, 0);
    budget.set(claims[3]!, 0);
    assert.equal(budget.total, 50);
    assert.equal(budget.holders, 2);
  });

  it('an eviction whose callback changes another claim does not start a second eviction loop, and the first one accounts for it', () => {
    const stats = emptyStats();
    const order: string[] = [];
    let claims: InputClaim<string>[] = [];
    const budget = new InputBudget<string>(100, stats, (owner) => {
      order.push(owner);
      // An onError handler that makes another connection hold more (re-entrant set()).
      if (owner === 'a') budget.set(claims[1]!, 70);
    });
    claims = ['a', 'b', 'c'].map((o) => budget.claim(o));
    budget.set(claims[0]!, 60);
    budget.set(claims[1]!, 10);
    budget.set(claims[2]!, 50);
    // 120: 'a' goes; its callback makes 'b' 70 (120 again): the same loop then takes 'b'.
    assert.deepEqual(order, ['a', 'b']);
    assert.equal(budget.total, 50);
    assert.equal(stats.bufferedInput, 50);
  });
});

describe('what decoders retain for a message arriving in pieces', () => {
  const MAX = 1024 * 1024;
  const cases = [
    ['length', () => new LengthCodec(MAX).createDecoder(), (n: number) => Buffer.concat([Buffer.from([n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, n >>> 24]), Buffer.alloc(n, 0x61)]), MAX + 4],
    ['line', () => new LineCodec(MAX).createDecoder(), (n: number) => Buffer.concat([Buffer.alloc(n, 0x61), Buffer.from('\n')]), MAX + 2],
  ] as const;

  /** Feeds all but the last byte of `wire` in `size`-byte reads (checking what is retained after each), then the last. */
  function stall(make: () => Decoder, messageLength: number, wire: Buffer, size: number, check: (retained: number, held: number) => void): void {
    const decoder = make();
    const delivered: number[] = [];
    const sink = { deliver: (m: Buffer) => void delivered.push(m.length), fail: (e: Error) => assert.fail(e) };
    for (let at = 0; at < wire.length - 1; at += size) {
      decoder.decode(Buffer.from(wire.subarray(at, Math.min(at + size, wire.length - 1))), sink);
      check(decoder.retainedBytes ?? -1, decoder.bufferedBytes);
    }
    assert.equal(decoder.bufferedBytes, wire.length - 1);
    decoder.decode(Buffer.from(wire.subarray(wire.length - 1)), sink);
    assert.deepEqual(delivered, [messageLength]);
    assert.equal(decoder.retainedBytes, 0);
  }

  for (const [name, make, framing, cap] of cases) {
    it(`${name}: in 64 KiB reads, what is held (the chunks as they came) and at most a small piece's room more`, () => {
      for (const size of [600 * 1024, MAX - 1, MAX]) {
        stall(make, size, framing(size), 64 * 1024, (retained, held) => assert.ok(retained >= held && retained <= held + 1024 && retained <= cap, `${size}: retains ${retained} for ${held} held`));
      }
    });

    it(`${name}: a byte at a time, at least what is held, at most 64 KiB more, never more than one message and its framing`, () => {
      stall(make, 200_000, framing(200_000), 1, (retained, held) => {
        assert.ok(retained >= held && retained <= held + 64 * 1024 && retained <= cap, `retains ${retained} for ${held} held`);
      });
    });
  }
});
