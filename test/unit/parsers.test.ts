/**
 * The CLI's argument parsers: each accepts what it documents and refuses everything else with
 * commander's InvalidArgumentError, always with the same message, which states its own bound.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from 'commander';
import * as parse from '../../src/cli/parsers.js';
import { maxReactorCount } from '../../src/index.js';

/** The messages `parser` refuses each of `inputs` with (an input it accepts fails the test). */
function refusals(parser: (value: string) => unknown, inputs: readonly string[]): Set<string> {
  const messages = new Set<string>();
  for (const input of inputs) {
    assert.throws(
      () => parser(input),
      (err: unknown) => {
        assert.ok(err instanceof InvalidArgumentError, `${JSON.stringify(input)}: expected InvalidArgumentError, got ${String(err)}`);
        messages.add(err.message);
        return true;
      },
      `${JSON.stringify(input)} was accepted`,
    );
  }
  return messages;
}

/** Asserts that every bad input gets one and the same message, and that it states `bound`. */
function assertOneMessage(parser: (value: string) => unknown, inputs: readonly string[], bound: string): void {
  const messages = [...refusals(parser, inputs)];
  assert.equal(messages.length, 1, `different messages for bad input: ${JSON.stringify(messages)}`);
  assert.ok((messages[0] as string).includes(bound), `"${messages[0]}" does not state "${bound}"`);
}

describe('CLI argument parsers', () => {
  it('port: 0..65535, one message', () => {
    assert.equal(parse.port('0'), 0);
    assert.equal(parse.port('65535'), 65535);
    assertOneMessage(parse.port, ['', 'abc', '-1', '65536', '1.5', ' 80'], 'from 0 to 65535');
  });

  it('seconds: a number >= 0, fractions allowed, one message', () => {
    assert.equal(parse.seconds('0'), 0);
    assert.equal(parse.seconds('0.25'), 0.25);
    assertOneMessage(parse.seconds, ['', ' ', 'abc', '-1', '-0.5', 'Infinity', 'NaN'], '>= 0');
  });

  it('positiveSeconds: a number > 0, one message whether the input is zero, negative or not a number', () => {
    assert.equal(parse.positiveSeconds('0.001'), 0.001);
    assert.equal(parse.positiveSeconds('10'), 10);
    assertOneMessage(parse.positiveSeconds, ['0', '0.0', '', 'abc', '-1', 'Infinity'], '> 0');
  });

  it('count: an integer >= 0, one message', () => {
    assert.equal(parse.count('0'), 0);
    assert.equal(parse.count('42'), 42);
    assertOneMessage(parse.count, ['', 'abc', '-1', '1.5', '1e3'], '>= 0');
  });

  it('positiveCount: an integer >= 1, one message whether the input is zero, negative or not a number', () => {
    assert.equal(parse.positiveCount('1'), 1);
    assert.equal(parse.positiveCount('100'), 100);
    assertOneMessage(parse.positiveCount, ['0', '00', '', 'abc', '-1', '1.5'], '>= 1');
  });

  it('bytes: a size >= 0 with an optional K, M or G suffix, one message', () => {
    assert.equal(parse.bytes('0'), 0);
    assert.equal(parse.bytes('16'), 16);
    assert.equal(parse.bytes('64K'), 64 * 1024);
    assert.equal(parse.bytes('2m'), 2 * 1024 ** 2);
    assert.equal(parse.bytes('1GiB'), 1024 ** 3);
    assertOneMessage(parse.bytes, ['', 'abc', '-1', '1.5K', '12Q'], '>= 0');
  });

  it('positiveBytes: a size >= 1, one message whether the input is zero, negative or not a size', () => {
    assert.equal(parse.positiveBytes('1'), 1);
    assert.equal(parse.positiveBytes('1K'), 1024);
    assertOneMessage(parse.positiveBytes, ['0', '0K', '', 'abc', '-1', '12Q'], '>= 1');
  });

  it('workers: "auto" or an integer from 1 to the reactor bound, one message', () => {
    assert.equal(parse.workers('auto'), 'auto');
    assert.equal(parse.workers('4'), 4);
    assert.equal(parse.workers(String(maxReactorCount())), maxReactorCount());
    assertOneMessage(parse.workers, ['0', '', 'abc', '-1', 'Auto', String(maxReactorCount() + 1), '1000000'], `from 1 to ${maxReactorCount()}`);
  });

  it('choice: one of the allowed values, one message naming them', () => {
    const order = parse.choice(['little', 'big'] as const);
    assert.equal(order('big'), 'big');
    assertOneMessage(order, ['', 'middle', 'BIG'], 'little, big');
  });
});
