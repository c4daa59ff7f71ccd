import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BlockList, isIPv4 } from 'node:net';
import fc from 'fast-check';
import { CidrList, InvalidOptionError } from '../../src/index.js';
import { readIPv6 } from '../helpers/ipv6-reference.js';

describe('CidrList', () => {
  it('contains the addresses of its IPv4 and IPv6 ranges, and no others', () => {
    const list = CidrList.parse('10.0.0.0/8, 192.168.1.0/24,203.0.113.7, 2001:db8::/32,::1', 'trustedProxies');
    for (const address of ['10.0.0.0', '10.255.255.255', '192.168.1.77', '203.0.113.7', '2001:db8::1', '2001:db8:ffff:ffff:ffff:ffff:ffff:ffff', '::1']) {
      assert.ok(list.contains(address), address);
    }
    for (const address of ['11.0.0.0', '9.255.255.255', '192.168.2.1', '203.0.113.8', '2001:db9::', '::2', '::']) {
      assert.ok(!list.contains(address), address);
    }
  });

  it('matches IPv4-mapped IPv6 addresses (a dual-stack socket\'s IPv4 clients) against IPv4 ranges', () => {
    const list = CidrList.parse('127.0.0.0/8,10.1.2.3', 'trustedProxies');
    assert.ok(list.contains('::ffff:127.0.0.1'));
    assert.ok(list.contains('::ffff:10.1.2.3'));
    assert.ok(list.contains('::FFFF:A01:203'));
    assert.ok(!list.contains('::ffff:10.1.2.4'));
    // IPv4-compatible (::a.b.c.d) and other embeddings are other addresses.
    assert.ok(!list.contains('::127.0.0.1'));
    assert.ok(!list.contains('64:ff9b::127.0.0.1'));
  });

  it('treats an IPv4-mapped range as the IPv4 range, and a range wider than ::ffff:0:0/96 as covering all IPv4', () => {
    const mapped = CidrList.parse('::ffff:10.0.0.0/104', 'allow');
    assert.ok(mapped.contains('10.9.9.9'));
    assert.ok(mapped.contains('::ffff:10.9.9.9'));
    assert.ok(!mapped.contains('11.0.0.0'));
    const everything = CidrList.parse('::/0', 'allow');
    assert.ok(everything.contains('1.2.3.4'));
    assert.ok(everything.contains('2001:db8::1'));
    const allIPv4 = CidrList.parse('0.0.0.0/0', 'allow');
    assert.ok(allIPv4.contains('::ffff:1.2.3.4'));
    assert.ok(!allIPv4.contains('2001:db8::1'));
  });

  it('ignores an IPv6 zone, and contains nothing that is not an address', () => {
    const list = CidrList.parse('fe80::/10', 'allow');
    assert.ok(list.contains('fe80::1%eth0'));
    for (const address of [undefined, '', 'localhost', 'fe80::1%', '%eth0', '10.0.0.1/8', ' fe80::1']) assert.ok(!list.contains(address), String(address));
  });

  it('writes its ranges back in canonical form, each once', () => {
    const list = CidrList.parse(['10.0.0.0/8', '2001:DB8:0::/32', '10.0.0.0/8', '::ffff:7f00:1', '1.2.3.4'], 'deny');
    assert.deepEqual(list.entries, ['10.0.0.0/8', '2001:db8::/32', '::ffff:127.0.0.1/128', '1.2.3.4/32']);
    assert.equal(list.size, 4);
    assert.equal(list.toString(), '10.0.0.0/8,2001:db8::/32,::ffff:127.0.0.1/128,1.2.3.4/32');
    assert.equal(CidrList.parse(list.toString(), 'deny').toString(), list.toString());
  });

  it('makes an empty list of an empty string or array', () => {
    for (const value of ['', '  ', []]) {
      const list = CidrList.parse(value, 'allow');
      assert.equal(list.size, 0);
      assert.ok(!list.contains('1.2.3.4'));
      assert.ok(!list.contains('::1'));
    }
  });

  it('refuses a bad entry with InvalidOptionError naming the setting and the entry', () => {
    const cases: [unknown, RegExp][] = [
      ['10.0.0.0/8,', /empty entry/],
      ['10.0.0.0/8,,::1', /empty entry/],
      ['localhost', /entry "localhost" is not an IPv4 or IPv6 address or CIDR range/],
      ['10.0.0.0/33', /prefix length of an IPv4 range is a number from 0 to 32/],
      ['::/129', /prefix length of an IPv6 range is a number from 0 to 128/],
      ['10.0.0.0/', /prefix length/],
      ['10.0.0.0/08', /prefix length/],
      ['10.0.0.0/-1', /prefix length/],
      ['10.0.0.0/8/8', /prefix length/],
      ['10.1.2.3/8', /entry "10.1.2.3\/8" has address bits set past its prefix length \(the range is 10.0.0.0\/8\)/],
      ['2001:db8::1/32', /the range is 2001:db8::\/32/],
      ['010.0.0.0/8', /not an IPv4 or IPv6 address/],
      ['10.0.0.0 /8', /not an IPv4 or IPv6 address/],
      ['fe80::1%eth0', /not an IPv4 or IPv6 address/],
      [42, /must be a comma-separated list/],
      [['10.0.0.0/8', 7], /must be a comma-separated list/],
    ];
    for (const [value, message] of cases) {
      assert.throws(
        () => CidrList.parse(value, 'trustedProxies'),
        (error: unknown) => {
          assert.ok(error instanceof InvalidOptionError, String(value));
          assert.equal(error.option, 'trustedProxies');
          assert.match(error.message, message);
          return true;
        },
        String(value),
      );
    }
  });

  it('agrees with node:net BlockList on random ranges and addresses', () => {
    const v4 = fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 32 }));
    const v6 = fc.tuple(fc.ipV6(), fc.integer({ min: 0, max: 128 }));
    const mapped = fc.tuple(fc.ipV4(), fc.integer({ min: 96, max: 128 })).map(([address, length]) => [`::ffff:${address}`, length] as const);
    const rangeArb = fc.oneof(v4, v6, mapped);
    fc.assert(
      fc.property(fc.array(rangeArb, { maxLength: 8 }), fc.array(fc.oneof(fc.ipV4(), fc.ipV6(), fc.ipV4().map((a) => `::ffff:${a}`)), { maxLength: 20 }), (ranges, extra) => {
        const blockList = new BlockList();
        const entries: string[] = [];
        const addresses = [...extra];
        for (const [address, length] of ranges) {
          const family = isIPv4(address) ? 'ipv4' : 'ipv6';
          blockList.addSubnet(address, length, family);
          // CidrList refuses host bits past the prefix: give it the network, and probe both.
          const network = networkOf(address, length);
          entries.push(`${network}/${length}`);
          addresses.push(address, network);
        }
        const list = CidrList.parse(entries, 'allow');
        for (const address of addresses) {
          assert.equal(list.contains(address), blockList.check(address, isIPv4(address) ? 'ipv4' : 'ipv6'), `${address} in ${entries.join(',')}`);
        }
      }),
      { numRuns: 500 },
    );
  });
});

/** `address` with the bits past `length` cleared, as text. */
function networkOf(address: string, length: number): string {
  if (isIPv4(address)) {
    const parts = address.split('.').map(Number);
    const value = (((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0) & (length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0);
    return [value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff].join('.');
  }
  // Read by the test's own reference (Bun's URL parser refuses `::` with a dotted tail).
  const groups = readIPv6(address) ?? assert.fail(`not an IPv6 address: ${address}`);
  let bits = groups.map((group) => group.toString(2).padStart(16, '0')).join('');
  bits = bits.slice(0, length).padEnd(128, '0');
  const words = Array.from({ length: 8 }, (_, i) => parseInt(bits.slice(i * 16, i * 16 + 16), 2).toString(16));
  return words.join(':');
}
