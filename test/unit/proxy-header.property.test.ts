/**
 * Property tests of the PROXY protocol parser and encoder (fast-check): what the encoder
 * writes, the parser reads back; no input makes the parser throw; a cut header is never taken
 * for a whole one; a verdict does not depend on where the bytes were cut; a checksummed header
 * with a byte changed is never accepted.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isIPv4 } from 'node:net';
import fc from 'fast-check';
import {
  PP2_TYPE,
  ProxyHeaderReader,
  encodeProxyHeader,
  encodeSslTlv,
  parseProxyHeader,
  type ProxyEndpoint,
  type ProxyHeader,
  type ProxyHeaderInit,
  type ProxyParseResult,
  type ProxySslInit,
  type ProxyTlvInit,
} from '../../src/index.js';
import { referenceIPv6 } from '../helpers/ipv6-reference.js';

const SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

/** An address as Node.js writes it (libuv's inet_ntop), IPv4 written IPv4-mapped when `mapped`. */
function written(address: string, mapped: boolean): string {
  if (isIPv4(address)) return mapped ? `::ffff:${address}` : address;
  return referenceIPv6(address) ?? assert.fail(`not an IPv6 address: ${address}`);
}

const ipv6FromBytes = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((bytes) => {
  // Zero some groups so that :: and mapped forms come up.
  const zeroed = Uint8Array.from(bytes, (b, i) => (bytes[i & ~1]! % 3 === 0 ? 0 : b));
  const words = Array.from({ length: 8 }, (_, i) => ((zeroed[i * 2]! << 8) | zeroed[i * 2 + 1]!).toString(16));
  return words.join(':');
});
const addressArb = fc.oneof(fc.ipV4(), fc.ipV6(), ipv6FromBytes, fc.ipV4().map((v4) => `::ffff:${v4}`));
const endpointArb: fc.Arbitrary<ProxyEndpoint> = fc.record({ address: addressArb, port: fc.integer({ min: 0, max: 0xffff }) });

const sslArb: fc.Arbitrary<ProxySslInit> = fc.record(
  {
    tls: fc.boolean(),
    certificateInConnection: fc.boolean(),
    certificateInSession: fc.boolean(),
    verifyResult: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffffffff })),
    version: fc.constantFrom('TLSv1.2', 'TLSv1.3'),
    commonName: fc.string({ unit: 'binary', maxLength: 20 }),
    cipher: fc.string({ unit: 'binary-ascii', maxLength: 30 }),
    signatureAlgorithm: fc.string({ unit: 'binary-ascii', maxLength: 12 }),
    keyAlgorithm: fc.string({ unit: 'binary-ascii', maxLength: 12 }),
    group: fc.string({ unit: 'binary-ascii', maxLength: 12 }),
    signatureScheme: fc.string({ unit: 'binary-ascii', maxLength: 20 }),
    clientCertificate: fc.uint8Array({ maxLength: 64 }),
  },
  { requiredKeys: [] },
);

/** The registered TLVs a header may carry once each. */
const knownTlvsArb = fc.record(
  {
    alpn: fc.string({ unit: 'binary-ascii', maxLength: 12 }),
    authority: fc.string({ unit: 'binary', maxLength: 30 }),
    uniqueId: fc.uint8Array({ maxLength: 128 }),
    netns: fc.string({ unit: 'binary-ascii', maxLength: 12 }),
    ssl: sslArb,
  },
  { requiredKeys: [] },
);

const SINGLE_TYPES: readonly number[] = [PP2_TYPE.ALPN, PP2_TYPE.AUTHORITY, PP2_TYPE.CRC32C, PP2_TYPE.UNIQUE_ID, PP2_TYPE.SSL, PP2_TYPE.NETNS];
/** TLVs of any other type, NOOP included, any number of times. */
const otherTlvArb: fc.Arbitrary<ProxyTlvInit> = fc.record({
  type: fc.integer({ min: 0, max: 255 }).filter((type) => !SINGLE_TYPES.includes(type)),
  value: fc.uint8Array({ maxLength: 40 }),
});

type Known = { alpn?: string; authority?: string; uniqueId?: Uint8Array; netns?: string; ssl?: ProxySslInit };

function knownTlvList(known: Known): ProxyTlvInit[] {
  const list: ProxyTlvInit[] = [];
  if (known.alpn !== undefined) list.push({ type: PP2_TYPE.ALPN, value: Buffer.from(known.alpn, 'latin1') });
  if (known.authority !== undefined) list.push({ type: PP2_TYPE.AUTHORITY, value: known.authority });
  if (known.uniqueId !== undefined) list.push({ type: PP2_TYPE.UNIQUE_ID, value: known.uniqueId });
  if (known.netns !== undefined) list.push({ type: PP2_TYPE.NETNS, value: Buffer.from(known.netns, 'latin1') });
  if (known.ssl !== undefined) list.push(encodeSslTlv(known.ssl));
  return list;
}

const tlvListArb = fc
  .tuple(knownTlvsArb, fc.array(otherTlvArb, { maxLength: 5 }))
  .chain(([known, others]) => {
    const list = [...knownTlvList(known), ...others];
    return fc.tuple(fc.constant(known as Known), fc.shuffledSubarray(list, { minLength: list.length, maxLength: list.length }));
  });

const initArb: fc.Arbitrary<{ init: ProxyHeaderInit; known: Known }> = fc.oneof(
  fc.record({ source: endpointArb, destination: endpointArb }).map(({ source, destination }) => ({ init: { version: 1 as const, source, destination }, known: {} })),
  fc.constant({ init: { version: 1 as const }, known: {} }),
  fc
    .record({
      addresses: fc.option(fc.record({ source: endpointArb, destination: endpointArb }), { nil: undefined }),
      local: fc.boolean(),
      protocol: fc.constantFrom('tcp' as const, 'udp' as const),
      tlvs: tlvListArb,
      checksum: fc.boolean(),
    })
    .map(({ addresses, local, protocol, tlvs: [known, tlvs], checksum }) => ({
      init: {
        version: 2 as const,
        command: local && addresses === undefined ? ('local' as const) : ('proxy' as const),
        ...addresses,
        protocol,
        tlvs,
        checksum,
      },
      known,
    })),
);

/** What parsing `init`'s header must give. */
function expectedHeader(init: ProxyHeaderInit): Omit<ProxyHeader, 'tlvs'> {
  const command = init.command ?? 'proxy';
  if (init.source === undefined || init.destination === undefined) return { version: init.version, command, family: 'unspec' };
  const ipv4 = isIPv4(init.source.address) && isIPv4(init.destination.address);
  const family = init.protocol === 'udp' ? (ipv4 ? 'udp4' : 'udp6') : ipv4 ? 'tcp4' : 'tcp6';
  return {
    version: init.version,
    command,
    family,
    source: { address: written(init.source.address, !ipv4), port: init.source.port },
    destination: { address: written(init.destination.address, !ipv4), port: init.destination.port },
  };
}

function doneOf(result: ProxyParseResult): { header: ProxyHeader; consumed: number } {
  if (result.status !== 'done') assert.fail(result.status === 'invalid' ? result.error.message : 'incomplete');
  return result;
}

/** Bytes that begin like a header often enough to reach deep into the parser. */
const prefixArb = fc.constantFrom(
  Buffer.alloc(0),
  Buffer.from('PROXY '),
  Buffer.from('PROXY TCP4 '),
  Buffer.from('PROXY TCP6 '),
  Buffer.from('PROXY UNKNOWN'),
  SIGNATURE,
  Buffer.concat([SIGNATURE, Buffer.of(0x21)]),
  Buffer.concat([SIGNATURE, Buffer.of(0x21, 0x11, 0x00)]),
  Buffer.concat([SIGNATURE, Buffer.of(0x20, 0x00, 0x00)]),
);
/** Bytes from an alphabet that a header is made of, and any bytes. */
const bodyArb = fc.oneof(
  fc.uint8Array({ maxLength: 300 }),
  fc.array(fc.constantFrom(...Buffer.from('0123456789abcdefABCDEF.: \r\n\x00\x01\x03\x04\x20')), { maxLength: 150 }).map((bytes) => Uint8Array.from(bytes)),
);
const garbageArb = fc.tuple(prefixArb, bodyArb).map(([prefix, body]) => Buffer.concat([prefix, body]));

/** Asserts that a verdict on a prefix is the verdict on the whole. */
function assertConsistent(bytes: Buffer, cut: number): void {
  const whole = parseProxyHeader(bytes);
  const part = parseProxyHeader(bytes.subarray(0, cut));
  if (part.status === 'done') assert.deepEqual(whole, part);
  if (part.status === 'invalid') {
    assert.equal(whole.status, 'invalid');
    assert.equal(whole.status === 'invalid' && whole.error.reason, part.error.reason);
  }
}

describe('PROXY header properties', () => {
  it('parses back what the encoder writes: addresses, ports, family, command and TLVs', () => {
    fc.assert(
      fc.property(initArb, fc.uint8Array({ maxLength: 40 }), ({ init, known }, app) => {
        const header = encodeProxyHeader(init);
        const bytes = Buffer.concat([header, app]);
        const { header: parsed, consumed } = doneOf(parseProxyHeader(bytes));
        assert.equal(consumed, header.length);
        const { tlvs, ...rest } = parsed;
        assert.deepEqual(rest, expectedHeader(init));
        const sent = (init.tlvs ?? []).map(({ type, value }) => ({ type, value: typeof value === 'string' ? Buffer.from(value) : Buffer.from(value) }));
        assert.deepEqual(
          tlvs.raw.filter((tlv) => tlv.type !== PP2_TYPE.CRC32C),
          sent,
        );
        assert.equal(tlvs.checksummed, init.checksum === true);
        assert.equal(tlvs.alpn, known.alpn);
        assert.equal(tlvs.authority, known.authority);
        assert.deepEqual(tlvs.uniqueId, known.uniqueId === undefined ? undefined : Buffer.from(known.uniqueId));
        assert.equal(tlvs.netns, known.netns);
        if (known.ssl === undefined) assert.equal(tlvs.ssl, undefined);
        else {
          const ssl = known.ssl;
          const got = tlvs.ssl!;
          assert.equal(got.tls, ssl.tls ?? true);
          assert.equal(got.certificateInConnection, ssl.certificateInConnection ?? false);
          assert.equal(got.certificateInSession, ssl.certificateInSession ?? false);
          assert.equal(got.verifyResult, ssl.verifyResult ?? 0);
          assert.equal(got.verified, got.verifyResult === 0 && (got.certificateInConnection || got.certificateInSession));
          for (const key of ['version', 'commonName', 'cipher', 'signatureAlgorithm', 'keyAlgorithm', 'group', 'signatureScheme'] as const) assert.equal(got[key], ssl[key], key);
          assert.deepEqual(got.clientCertificate, ssl.clientCertificate === undefined ? undefined : Buffer.from(ssl.clientCertificate));
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('never throws: any bytes are incomplete, invalid or a header', () => {
    fc.assert(
      fc.property(garbageArb, (bytes) => {
        const result = parseProxyHeader(bytes);
        assert.ok(['incomplete', 'invalid', 'done'].includes(result.status));
        if (result.status === 'done') assert.ok(result.consumed <= bytes.length);
        new ProxyHeaderReader({ mode: 'optional' }).push(bytes);
      }),
      { numRuns: 3000 },
    );
  });

  it('never takes a cut header for a whole one: every strict prefix is incomplete', () => {
    fc.assert(
      fc.property(initArb, fc.nat(), ({ init }, cut) => {
        const header = encodeProxyHeader(init);
        const result = parseProxyHeader(header.subarray(0, cut % header.length));
        assert.equal(result.status, 'incomplete');
      }),
      { numRuns: 1000 },
    );
  });

  it('gives the same verdict, for the same reason, from any prefix that has one', () => {
    fc.assert(
      fc.property(garbageArb, fc.nat(), (bytes, cut) => assertConsistent(bytes, bytes.length === 0 ? 0 : cut % (bytes.length + 1))),
      { numRuns: 3000 },
    );
    // Valid headers with bytes changed: deep in the parser, and still consistent.
    fc.assert(
      fc.property(initArb, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 3 }), fc.nat(), ({ init }, changes, cut) => {
        const bytes = Buffer.from(encodeProxyHeader(init));
        for (const [at, value] of changes) bytes[at % bytes.length] = value;
        assertConsistent(bytes, cut % (bytes.length + 1));
      }),
      { numRuns: 2000 },
    );
  });

  it('never accepts a checksummed header with one byte changed as checksummed', () => {
    // The checksum is optional in the protocol: a change that hides the CRC32C TLV itself (its
    // type byte, a length that swallows or drops it) leaves a header without one. Any other
    // change is caught.
    const checksummed = initArb.filter(({ init }) => init.version === 2).map(({ init }) => ({ ...init, checksum: true }));
    let caught = 0;
    fc.assert(
      fc.property(checksummed, fc.nat(), fc.integer({ min: 1, max: 255 }), (init, position, delta) => {
        const bytes = Buffer.from(encodeProxyHeader(init));
        const at = position % bytes.length;
        bytes[at] = (bytes[at]! + delta) & 0xff;
        const result = parseProxyHeader(bytes);
        if (result.status === 'done') assert.equal(result.header.tlvs.checksummed, false, `byte ${at} changed, checksum still taken`);
        else caught++;
      }),
      { numRuns: 2000 },
    );
    assert.ok(caught > 1900, `only ${caught} of 2000 changes caught`);
  });

  it('reads the header, and every application byte in order, however the stream is cut', () => {
    fc.assert(
      fc.property(initArb, fc.uint8Array({ maxLength: 60 }), fc.array(fc.nat(), { maxLength: 6 }), ({ init }, app, cuts) => {
        const header = encodeProxyHeader(init);
        const bytes = Buffer.concat([header, app]);
        const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b);
        const reader = new ProxyHeaderReader();
        const received: Buffer[] = [];
        let parsed: ProxyHeader | undefined;
        let from = 0;
        for (const to of [...points, bytes.length]) {
          const chunk = Buffer.from(bytes.subarray(from, to));
          from = to;
          if (parsed !== undefined) {
            received.push(chunk);
            continue;
          }
          const result = reader.push(chunk);
          assert.ok(result.status === 'incomplete' || result.status === 'done', result.status);
          if (result.status === 'done') {
            parsed = result.header;
            received.push(result.rest);
          }
        }
        assert.deepEqual(parsed, doneOf(parseProxyHeader(header)).header);
        assert.deepEqual(Buffer.concat(received), Buffer.from(app));
      }),
      { numRuns: 1000 },
    );
  });
});
