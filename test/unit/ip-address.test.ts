import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatIPv4, formatIPv4Number, formatIPv6, isIPv4Mapped, parseIPv4, parseIPv6Into } from '../../src/core/ip-address.js';

import { nodeIPv6, referenceIPv6, runsOnBun, writtenIPv6 } from '../helpers/ipv6-reference.js';

function ipv6(text: string): string | undefined {
  const bytes = new Uint8Array(16);
  return parseIPv6Into(text, bytes) ? formatIPv6(bytes) : undefined;
}

describe('parseIPv4', () => {
  it('reads dotted quads as unsigned 32-bit numbers', () => {
    assert.equal(parseIPv4('0.0.0.0'), 0);
    assert.equal(parseIPv4('255.255.255.255'), 0xffffffff);
    assert.equal(parseIPv4('192.168.0.11'), 0xc0a8000b);
    assert.equal(parseIPv4('x10.0.0.1y', 1, 9), 0x0a000001);
  });

  it('refuses leading zeros, out-of-range parts, and anything but four parts', () => {
    for (const text of ['', '1.2.3', '1.2.3.4.5', '01.2.3.4', '1.2.3.00', '256.0.0.0', '1.2.3.1000', '1..2.3', '1.2.3.4.', '.1.2.3.4', ' 1.2.3.4', '1.2.3.4 ', '1.2.3.-4', '1.2.3.+4', '0x1.2.3.4', '1.2.3.4/8']) {
      assert.equal(parseIPv4(text), -1, text);
    }
  });

  it('writes what it reads', () => {
    fc.assert(
      fc.property(fc.ipV4(), (text) => {
        const value = parseIPv4(text);
        assert.equal(formatIPv4Number(value), text);
        assert.equal(formatIPv4(Uint8Array.of(value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff)), text);
      }),
    );
  });
});

describe('parseIPv6Into and formatIPv6', () => {
  it('read the forms inet_pton reads and write them as Node.js does', () => {
    const cases: [string, string][] = [
      ['::', '::'],
      ['::1', '::1'],
      ['0:0:0:0:0:0:0:1', '::1'],
      ['FE80::0', 'fe80::'],
      ['2001:DB8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
      ['1:0:0:1:0:0:0:1', '1:0:0:1::1'],
      ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
      ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
      ['::2:3:4:5:6:7:8', '0:2:3:4:5:6:7:8'],
      ['1:0:2:3:4:5:6:7', '1:0:2:3:4:5:6:7'],
      ['::ffff:1.2.3.4', '::ffff:1.2.3.4'],
      ['::FFFF:0102:0304', '::ffff:1.2.3.4'],
      ['::1.2.3.4', '::1.2.3.4'],
      ['::0.0.0.2', '::2'],
      ['::ffff:0:0', '::ffff:0.0.0.0'],
      ['64:ff9b::192.0.2.33', '64:ff9b::c000:221'],
      ['ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'],
    ];
    for (const [text, written] of cases) {
      assert.equal(ipv6(text), written, text);
      assert.equal(referenceIPv6(text), written, `the reference disagrees about ${text}`);
    }
  });

  it('refuses what inet_pton refuses', () => {
    for (const text of ['', ':', ':::', '1', '1:2', ':1:2:3:4:5:6:7', '1:2:3:4:5:6:7:', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7:8::', '1::2::3', '12345::', 'g::', '::1.2.3', '::1.2.3.04', '::256.0.0.0', '1.2.3.4', '::1.2.3.4:5', '1:2:3:4:5:6:7:1.2.3.4', ' ::1', '::1 ']) {
      assert.equal(ipv6(text), undefined, text);
      assert.equal(referenceIPv6(text), undefined, `the reference accepts ${text}`);
    }
  });

  it('refuses a zone (node:net would drop it): an address is compared without one', () => {
    assert.equal(ipv6('fe80::1%eth0'), undefined);
    assert.equal(ipv6('fe80::1%'), undefined);
  });

  // The reference is libuv's inet_pton and inet_ntop: node:net on Node.js, the same rules
  // written out on Bun (test/helpers/ipv6-reference.ts, held to node:net below).
  it('agree with the reference on any string of address characters', () => {
    const piece = fc.constantFrom('0', '1', 'a', 'F', 'ff', 'ffff', '0000', '12345', ':', '::', ':', '.', '1.2.3.4', '255', '256', '01');
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 14 }), (pieces) => {
        const text = pieces.join('');
        assert.equal(ipv6(text), referenceIPv6(text), text);
      }),
      { numRuns: 2000 },
    );
  });

  it('write any 16 bytes as Node.js does, and read back the same bytes', () => {
    // Mostly zeros and 0xff, so that runs of zero groups and mapped forms come up often.
    const byte = fc.oneof(fc.constant(0), fc.constant(0), fc.constant(0xff), fc.integer({ min: 0, max: 255 }));
    fc.assert(
      fc.property(fc.array(byte, { minLength: 16, maxLength: 16 }), (values) => {
        const bytes = Uint8Array.from(values);
        const written = formatIPv6(bytes);
        assert.equal(referenceIPv6(written), written);
        const back = new Uint8Array(16);
        assert.ok(parseIPv6Into(written, back), written);
        assert.deepEqual(back, bytes);
      }),
      { numRuns: 2000 },
    );
  });

  it('read every address fast-check writes', () => {
    fc.assert(fc.property(fc.ipV6(), (text) => assert.equal(ipv6(text), referenceIPv6(text), text)));
  });

  it('parse in place at an offset, leaving the bytes around alone', () => {
    const out = new Uint8Array(20).fill(7);
    assert.ok(parseIPv6Into('[::1]', out, 2, 1, 4));
    assert.deepEqual([...out], [7, 7, ...new Array(15).fill(0), 1, 7, 7]);
  });
});

describe('the IPv6 reference written out for Bun', () => {
  // Held to node:net, which is libuv's inet_pton and inet_ntop only on Node.js: Bun's node:net
  // is not that reference (it is why the written-out one exists), so there is nothing to hold
  // it to on Bun.
  const onNode = { skip: runsOnBun ? "Bun's node:net is not libuv's inet_pton/inet_ntop" : false };

  it('agrees with node:net on any string of address characters', onNode, () => {
    const piece = fc.constantFrom('0', '1', 'a', 'F', 'ff', 'ffff', '0000', '12345', ':', '::', ':', '.', '1.2.3.4', '255', '256', '01', '0.0.0.0');
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 14 }), (pieces) => {
        const text = pieces.join('');
        assert.equal(writtenIPv6(text), nodeIPv6(text), text);
      }),
      { numRuns: 5000 },
    );
  });

  it('writes any address as node:net does', onNode, () => {
    const byte = fc.oneof(fc.constant(0), fc.constant(0), fc.constant(0xff), fc.integer({ min: 0, max: 255 }));
    fc.assert(
      fc.property(fc.array(byte, { minLength: 16, maxLength: 16 }), (values) => {
        const words = Array.from({ length: 8 }, (_, i) => ((values[i * 2]! << 8) | values[i * 2 + 1]!).toString(16));
        const text = words.join(':');
        assert.equal(writtenIPv6(text), nodeIPv6(text), text);
      }),
      { numRuns: 5000 },
    );
    fc.assert(fc.property(fc.ipV6(), (text) => assert.equal(writtenIPv6(text), nodeIPv6(text), text)));
  });
});

describe('isIPv4Mapped', () => {
  it('is true in ::ffff:0:0/96 only', () => {
    const bytes = new Uint8Array(16);
    for (const [text, mapped] of [['::ffff:1.2.3.4', true], ['::ffff:0.0.0.0', true], ['::1.2.3.4', false], ['::fffe:1.2.3.4', false], ['1::ffff:1.2.3.4', false]] as const) {
      assert.ok(parseIPv6Into(text, bytes));
      assert.equal(isIPv4Mapped(bytes), mapped, text);
    }
  });
});
