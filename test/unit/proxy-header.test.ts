/**
 * The PROXY protocol parser against HAProxy's specification (proxy-protocol.txt): its examples,
 * its limits, and every way a header can be wrong, each refused with its reason. Version 2
 * headers are built byte by byte here (`v2()`), not with the encoder, so that the parser is
 * checked against the specification's layout rather than against its sibling.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  ProxyHeaderReader,
  ProxyProtocolError,
  detectProxyHeader,
  parseProxyHeader,
  type ProxyHeader,
  type ProxyParseResult,
  type ProxyProtocolReason,
} from '../../src/index.js';
import { crc32c } from '../../src/proxy/crc32c.js';

const SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

/** A version 2 header: signature, version/command byte, family byte, then `body` with its length. */
function v2(versionCommand: number, family: number, ...body: (Buffer | number[])[]): Buffer {
  const rest = Buffer.concat(body.map((part) => Buffer.from(part)));
  const fixed = Buffer.alloc(16);
  SIGNATURE.copy(fixed);
  fixed[12] = versionCommand;
  fixed[13] = family;
  fixed.writeUInt16BE(rest.length, 14);
  return Buffer.concat([fixed, rest]);
}

function tlv(type: number, value: Buffer | string | number[]): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value) : Buffer.from(value);
  const head = Buffer.of(type, bytes.length >> 8, bytes.length & 0xff);
  return Buffer.concat([head, bytes]);
}

/** 192.168.0.1:56324 -> 192.168.0.11:443, the specification's example, as a version 2 address block. */
const IPV4_BLOCK = [192, 168, 0, 1, 192, 168, 0, 11, 56324 >> 8, 56324 & 0xff, 443 >> 8, 443 & 0xff];

function ipv6Block(source: string, destination: string, sourcePort: number, destinationPort: number): Buffer {
  const block = Buffer.alloc(36);
  Buffer.from(source, 'hex').copy(block, 0);
  Buffer.from(destination, 'hex').copy(block, 16);
  block.writeUInt16BE(sourcePort, 32);
  block.writeUInt16BE(destinationPort, 34);
  return block;
}

/** Fills in the CRC32C of a header whose CRC32C TLV value starts at `at` (zeroed). */
function withChecksum(header: Buffer, at: number): Buffer {
  const out = Buffer.from(header);
  out.writeUInt32BE(0, at);
  out.writeUInt32BE(crc32c(out), at);
  return out;
}

function done(result: ProxyParseResult): { header: ProxyHeader; consumed: number } {
  assert.equal(result.status, 'done', result.status === 'invalid' ? result.error.message : 'incomplete');
  return result as { header: ProxyHeader; consumed: number };
}

function refused(result: ProxyParseResult): ProxyProtocolError {
  assert.equal(result.status, 'invalid', `expected a refusal, got ${result.status}`);
  const { error } = result as { error: ProxyProtocolError };
  assert.ok(error instanceof ProxyProtocolError);
  assert.equal(error.code, 'ERR_PROXY_PROTOCOL');
  return error;
}

function line(text: string): Buffer {
  return Buffer.from(text, 'latin1');
}

describe('PROXY protocol version 1', () => {
  it("parses the specification's example and leaves the HTTP request after it", () => {
    const request = 'GET / HTTP/1.1\r\nHost: 192.168.0.11\r\n\r\n';
    const bytes = line(`PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n${request}`);
    const { header, consumed } = done(parseProxyHeader(bytes));
    assert.deepEqual(header, {
      version: 1,
      command: 'proxy',
      family: 'tcp4',
      source: { address: '192.168.0.1', port: 56324 },
      destination: { address: '192.168.0.11', port: 443 },
      tlvs: { checksummed: false, raw: [] },
    });
    assert.equal(bytes.subarray(consumed).toString('latin1'), request);
  });

  it('accepts the longest lines the specification lists (56, 104, 15 and 107 bytes)', () => {
    const ffff = 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff';
    const cases: [string, number, Partial<ProxyHeader>][] = [
      ['PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n', 56, { family: 'tcp4', source: { address: '255.255.255.255', port: 65535 } }],
      [`PROXY TCP6 ${ffff} ${ffff} 65535 65535\r\n`, 104, { family: 'tcp6', source: { address: ffff, port: 65535 } }],
      ['PROXY UNKNOWN\r\n', 15, { family: 'unspec' }],
      [`PROXY UNKNOWN ${ffff} ${ffff} 65535 65535\r\n`, 107, { family: 'unspec' }],
    ];
    for (const [text, length, expected] of cases) {
      assert.equal(text.length, length);
      const { header, consumed } = done(parseProxyHeader(line(`${text}after`)));
      assert.equal(consumed, length, text);
      assert.equal(header.family, expected.family);
      if (expected.source) assert.deepEqual(header.source, expected.source);
      else assert.equal(header.source, undefined, 'UNKNOWN carries no address');
    }
  });

  it('writes IPv6 addresses as Node.js writes a socket address, however the proxy wrote them', () => {
    const { header } = done(parseProxyHeader(line('PROXY TCP6 0:0:0:0:0:0:0:1 2001:DB8:0:0:0:0:0:A 1 0\r\n')));
    assert.deepEqual(header.source, { address: '::1', port: 1 });
    assert.deepEqual(header.destination, { address: '2001:db8::a', port: 0 });
    // HAProxy writes an IPv4 client of an IPv6 listener IPv4-mapped, with a dotted tail.
    const mapped = done(parseProxyHeader(line('PROXY TCP6 ::ffff:127.0.0.2 ::FFFF:7F00:1 40000 8888\r\n'))).header;
    assert.deepEqual(mapped.source, { address: '::ffff:127.0.0.2', port: 40000 });
    assert.deepEqual(mapped.destination, { address: '::ffff:127.0.0.1', port: 8888 });
  });

  it('ignores whatever UNKNOWN is followed by on its line', () => {
    const { header, consumed } = done(parseProxyHeader(line('PROXY UNKNOWN whatever, even ~!@#$%^&*()\r\nAPP')));
    assert.deepEqual(header, { version: 1, command: 'proxy', family: 'unspec', tlvs: { checksummed: false, raw: [] } });
    assert.equal(consumed, 'PROXY UNKNOWN whatever, even ~!@#$%^&*()\r\n'.length);
  });

  const ok = 'PROXY TCP4 1.2.3.4 5.6.7.8 1000 2000\r\n';
  const malformed: [string, string, ProxyProtocolReason][] = [
    ['LF without CR', 'PROXY TCP4 1.2.3.4 5.6.7.8 1000 2000\n', 'malformed'],
    ['CR without LF', 'PROXY TCP4 1.2.3.4 5.6.7.8 1000 2000\rX', 'malformed'],
    ['CR CR LF', 'PROXY TCP4 1.2.3.4 5.6.7.8 1000 2000\r\r\n', 'malformed'],
    ['a lower-case protocol', 'PROXY tcp4 1.2.3.4 5.6.7.8 1000 2000\r\n', 'malformed'],
    ['an unknown protocol', 'PROXY TCP5 1.2.3.4 5.6.7.8 1000 2000\r\n', 'malformed'],
    ['UDP4 (version 1 has none)', 'PROXY UDP4 1.2.3.4 5.6.7.8 1000 2000\r\n', 'malformed'],
    ['two spaces after PROXY', 'PROXY  TCP4 1.2.3.4 5.6.7.8 1000 2000\r\n', 'malformed'],
    ['two spaces between addresses', 'PROXY TCP4 1.2.3.4  5.6.7.8 1000 2000\r\n', 'malformed'],
    ['two spaces after the protocol', 'PROXY TCP4  1.2.3.4 5.6.7.8 1000 2000\r\n', 'malformed'],
    ['a space before CRLF', 'PROXY TCP4 1.2.3.4 5.6.7.8 1000 2000 \r\n', 'malformed'],
    ['a tab for a space', 'PROXY TCP4 1.2.3.4\t5.6.7.8 1000 2000\r\n', 'malformed'],
    ['a missing port', 'PROXY TCP4 1.2.3.4 5.6.7.8 1000\r\n', 'malformed'],
    ['an extra field', 'PROXY TCP4 1.2.3.4 5.6.7.8 1000 2000 3000\r\n', 'malformed'],
    ['no fields at all', 'PROXY TCP4 \r\n', 'malformed'],
    ['UNKNOWN run into what follows', 'PROXY UNKNOWNX\r\n', 'malformed'],
    ['a control byte after UNKNOWN', 'PROXY UNKNOWN \x01\r\n', 'malformed'],
    ['a byte above ASCII after UNKNOWN', 'PROXY UNKNOWN \xe9\r\n', 'malformed'],
    ['an IPv6 address in a TCP4 line', 'PROXY TCP4 ::1 ::1 1000 2000\r\n', 'malformed'],
    ['a zone in an IPv6 address', 'PROXY TCP6 fe80::1%eth0 ::1 1000 2000\r\n', 'malformed'],
    ['a negative port', 'PROXY TCP4 1.2.3.4 5.6.7.8 -1 2000\r\n', 'malformed'],
    ['a leading zero in an IPv4 address', 'PROXY TCP4 01.2.3.4 5.6.7.8 1000 2000\r\n', 'bad-address'],
    ['an IPv4 part over 255', 'PROXY TCP4 1.2.3.4 5.6.7.256 1000 2000\r\n', 'bad-address'],
    ['three IPv4 parts', 'PROXY TCP4 1.2.3 5.6.7.8 1000 2000\r\n', 'bad-address'],
    ['five IPv4 parts', 'PROXY TCP4 1.2.3.4.5 5.6.7.8 1000 2000\r\n', 'bad-address'],
    ['an IPv4 address in a TCP6 line', 'PROXY TCP6 1.2.3.4 ::1 1000 2000\r\n', 'bad-address'],
    ['nine IPv6 groups', 'PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1000 2000\r\n', 'bad-address'],
    ['two :: in an IPv6 address', 'PROXY TCP6 ::1 1::2::3 1000 2000\r\n', 'bad-address'],
    ['a five-digit IPv6 group', 'PROXY TCP6 12345::1 ::1 1000 2000\r\n', 'bad-address'],
    ['a port over 65535', 'PROXY TCP4 1.2.3.4 5.6.7.8 65536 2000\r\n', 'bad-address'],
    ['a port with a leading zero', 'PROXY TCP4 1.2.3.4 5.6.7.8 1000 0443\r\n', 'bad-address'],
    ['a six-digit port', 'PROXY TCP4 1.2.3.4 5.6.7.8 1000 100000\r\n', 'bad-address'],
    ['a port that is a dotted number', 'PROXY TCP4 1.2.3.4 5.6.7.8 1.0 2000\r\n', 'bad-address'],
    ['no CRLF in 107 bytes', `PROXY UNKNOWN ${'1'.repeat(200)}\r\n`, 'too-long'],
    ['a 108-byte UNKNOWN line', `PROXY UNKNOWN ${'f'.repeat(92)}\r\n`, 'too-long'],
    ['an HTTP request', 'GET / HTTP/1.1\r\n\r\n', 'not-proxy'],
    ['PROXY without its space', 'PROXY\r\n', 'not-proxy'],
    ['lower-case proxy', 'proxy TCP4 1.2.3.4 5.6.7.8 1000 2000\r\n', 'not-proxy'],
  ];

  it('refuses every malformed line with its reason', () => {
    assert.equal(parseProxyHeader(line(ok)).status, 'done');
    for (const [name, text, reason] of malformed) {
      const result = parseProxyHeader(line(text));
      assert.equal(result.status, 'invalid', name);
      const error = refused(result);
      assert.equal(error.reason, reason, `${name}: ${error.message}`);
      assert.equal(error.version, reason === 'not-proxy' ? undefined : 1, name);
    }
  });

  it('accepts a 107-byte line and refuses one byte more', () => {
    const at107 = `PROXY UNKNOWN ${'f'.repeat(91)}\r\n`;
    assert.equal(at107.length, 107);
    assert.equal(done(parseProxyHeader(line(at107))).consumed, 107);
    // Refused as soon as 107 bytes without CRLF are in, without waiting for the rest.
    const error = refused(parseProxyHeader(line(`PROXY UNKNOWN ${'f'.repeat(93)}`)));
    assert.equal(error.reason, 'too-long');
  });

  it('refuses a bad line as early as its first wrong byte, before any CRLF', () => {
    assert.equal(refused(parseProxyHeader(line('PROXY TCP4 1.2.3.4 ::'))).reason, 'malformed');
    assert.equal(refused(parseProxyHeader(line('PROXY X'))).reason, 'malformed');
    assert.equal(refused(parseProxyHeader(line('PROXY TCP4 1.2\n'))).reason, 'malformed');
    assert.equal(refused(parseProxyHeader(line('G'))).reason, 'not-proxy');
  });

  it('names the wrong field in its message, with peer bytes escaped', () => {
    assert.match(refused(parseProxyHeader(line('PROXY TCP4 1.2.3.4 5.6.7.8 1000 0443\r\n'))).message, /destination port "0443"/);
    assert.match(refused(parseProxyHeader(line('PROXY TCP4 1.2.3 5.6.7.8 1000 2000\r\n'))).message, /source address "1.2.3" is not an IPv4 address/);
    const message = refused(parseProxyHeader(line('\x1b[31mred\r\n'))).message;
    assert.ok(!message.includes('\x1b'), message);
    assert.match(message, /\\u001b\[31mred\\r\\n/);
  });
});

describe('PROXY protocol version 2', () => {
  it('parses TCP over IPv4, with the application bytes after it left alone', () => {
    const bytes = Buffer.concat([v2(0x21, 0x11, IPV4_BLOCK), Buffer.from('hello')]);
    const { header, consumed } = done(parseProxyHeader(bytes));
    assert.equal(consumed, 28);
    assert.deepEqual(header, {
      version: 2,
      command: 'proxy',
      family: 'tcp4',
      source: { address: '192.168.0.1', port: 56324 },
      destination: { address: '192.168.0.11', port: 443 },
      tlvs: { checksummed: false, raw: [] },
    });
    assert.equal(bytes.subarray(consumed).toString(), 'hello');
  });

  it('parses TCP and UDP over IPv6, addresses written as Node.js writes them', () => {
    const block = ipv6Block('20010db8000000000000000000000001', '00000000000000000000ffff7f000001', 65535, 0);
    for (const [family, name] of [[0x21, 'tcp6'], [0x22, 'udp6']] as const) {
      const { header, consumed } = done(parseProxyHeader(v2(0x21, family, block)));
      assert.equal(consumed, 52);
      assert.equal(header.family, name);
      assert.deepEqual(header.source, { address: '2001:db8::1', port: 65535 });
      assert.deepEqual(header.destination, { address: '::ffff:127.0.0.1', port: 0 });
    }
    assert.equal(done(parseProxyHeader(v2(0x21, 0x12, IPV4_BLOCK))).header.family, 'udp4');
  });

  it('parses UNIX addresses: a path, an abstract name with @, or nothing', () => {
    const block = Buffer.alloc(216);
    block.write('/run/app.sock', 0);
    block.write('\0abstract', 108, 'latin1');
    const stream = done(parseProxyHeader(v2(0x21, 0x31, block))).header;
    assert.equal(stream.family, 'unix-stream');
    assert.deepEqual(stream.source, { address: '/run/app.sock', port: 0 });
    assert.deepEqual(stream.destination, { address: '@abstract', port: 0 });
    const full = Buffer.alloc(216, 0x61); // 108 bytes of path, no NUL
    const unnamed = done(parseProxyHeader(v2(0x21, 0x32, Buffer.concat([full.subarray(0, 108), Buffer.alloc(108)])))).header;
    assert.equal(unnamed.family, 'unix-dgram');
    assert.equal(unnamed.source?.address, 'a'.repeat(108));
    assert.equal(unnamed.destination?.address, '');
  });

  it('takes LOCAL (a health check) without addresses, skipping any address block it has', () => {
    const local = done(parseProxyHeader(v2(0x20, 0x00)));
    assert.deepEqual(local, { status: 'done', header: { version: 2, command: 'local', family: 'unspec', tlvs: { checksummed: false, raw: [] } }, consumed: 16 });
    const withBlock = done(parseProxyHeader(v2(0x20, 0x11, IPV4_BLOCK, tlv(0x05, 'id-1')))).header;
    assert.equal(withBlock.command, 'local');
    assert.equal(withBlock.source, undefined);
    assert.equal(withBlock.destination, undefined);
    assert.equal(withBlock.tlvs.uniqueId?.toString(), 'id-1');
  });

  it('takes PROXY with the UNSPEC family, without addresses', () => {
    const { header } = done(parseProxyHeader(v2(0x21, 0x00, tlv(0x04, []))));
    assert.equal(header.family, 'unspec');
    assert.equal(header.source, undefined);
    assert.deepEqual(header.tlvs.raw, [{ type: 0x04, value: Buffer.alloc(0) }]);
  });

  it('decodes the registered TLVs, keeps every TLV in order, and skips unknown ones', () => {
    const ssl = Buffer.concat([
      Buffer.of(0x07, 0, 0, 0, 0),
      tlv(0x21, 'TLSv1.3'),
      tlv(0x22, 'client.example'),
      tlv(0x23, 'TLS_AES_256_GCM_SHA384'),
      tlv(0x24, 'RSA-SHA256'),
      tlv(0x25, 'RSA2048'),
      tlv(0x26, 'X25519'),
      tlv(0x27, 'rsa_pss_rsae_sha256'),
      tlv(0x28, [0x30, 0x82, 0x01]),
      tlv(0x2f, 'future sub-TLV'),
    ]);
    const bytes = v2(
      0x21,
      0x11,
      IPV4_BLOCK,
      tlv(0x01, 'h2'),
      tlv(0x02, 'bücher.example'),
      tlv(0x04, [0, 0, 0]),
      tlv(0x05, Buffer.alloc(128, 0xab)),
      tlv(0x20, ssl),
      tlv(0x30, 'blue'),
      tlv(0xe0, [1, 2, 3]),
    );
    const { tlvs } = done(parseProxyHeader(bytes)).header;
    assert.equal(tlvs.alpn, 'h2');
    assert.equal(tlvs.authority, 'bücher.example');
    assert.deepEqual(tlvs.uniqueId, Buffer.alloc(128, 0xab));
    assert.equal(tlvs.netns, 'blue');
    assert.equal(tlvs.checksummed, false);
    assert.deepEqual(tlvs.ssl, {
      client: 0x07,
      tls: true,
      certificateInConnection: true,
      certificateInSession: true,
      verifyResult: 0,
      verified: true,
      version: 'TLSv1.3',
      commonName: 'client.example',
      cipher: 'TLS_AES_256_GCM_SHA384',
      signatureAlgorithm: 'RSA-SHA256',
      keyAlgorithm: 'RSA2048',
      group: 'X25519',
      signatureScheme: 'rsa_pss_rsae_sha256',
      clientCertificate: Buffer.of(0x30, 0x82, 0x01),
    });
    assert.deepEqual(
      tlvs.raw.map((entry) => entry.type),
      [0x01, 0x02, 0x04, 0x05, 0x20, 0x30, 0xe0],
    );
    assert.deepEqual(tlvs.raw[6]?.value, Buffer.of(1, 2, 3));
  });

  it('does not call a TLS client verified when it presented no certificate (HAProxy sends verify 0 then)', () => {
    const noCertificate = done(parseProxyHeader(v2(0x21, 0x11, IPV4_BLOCK, tlv(0x20, [0x01, 0, 0, 0, 0])))).header.tlvs.ssl;
    assert.equal(noCertificate?.tls, true);
    assert.equal(noCertificate?.verifyResult, 0);
    assert.equal(noCertificate?.verified, false);
    const failed = done(parseProxyHeader(v2(0x21, 0x11, IPV4_BLOCK, tlv(0x20, [0x07, 0, 0, 0, 20])))).header.tlvs.ssl;
    assert.equal(failed?.verifyResult, 20);
    assert.equal(failed?.verified, false);
  });

  it('keeps TLV values valid after the buffer they came in is reused', () => {
    const bytes = v2(0x21, 0x11, IPV4_BLOCK, tlv(0x05, 'connection-7'), tlv(0xe1, 'custom'));
    const { tlvs } = done(parseProxyHeader(bytes)).header;
    bytes.fill(0);
    assert.equal(tlvs.uniqueId?.toString(), 'connection-7');
    assert.equal(tlvs.raw[1]?.value.toString(), 'custom');
  });

  it('verifies a CRC32C TLV wherever it stands, and refuses a header it does not match', () => {
    const crcFirst = v2(0x21, 0x11, IPV4_BLOCK, tlv(0x03, [0, 0, 0, 0]), tlv(0x01, 'h2'));
    const good = withChecksum(crcFirst, 28 + 3);
    assert.equal(done(parseProxyHeader(good)).header.tlvs.checksummed, true);
    const crcLast = v2(0x20, 0x00, tlv(0x05, 'abc'), tlv(0x03, [0, 0, 0, 0]));
    assert.equal(done(parseProxyHeader(withChecksum(crcLast, 16 + 6 + 3))).header.tlvs.checksummed, true);
    const tampered = Buffer.from(good);
    tampered[19] = 2; // 192.168.0.1 -> 192.168.0.2
    const error = refused(parseProxyHeader(tampered));
    assert.equal(error.reason, 'checksum');
    assert.equal(error.version, 2);
  });

  it('stops at the announced length: the bytes after it are the application\'s, even if they look like TLVs', () => {
    const header = v2(0x21, 0x11, IPV4_BLOCK);
    const bytes = Buffer.concat([header, tlv(0x01, 'not mine')]);
    const { header: parsed, consumed } = done(parseProxyHeader(bytes));
    assert.equal(consumed, header.length);
    assert.deepEqual(parsed.tlvs.raw, []);
  });

  const ipv4 = (...tlvs: Buffer[]) => v2(0x21, 0x11, IPV4_BLOCK, ...tlvs);
  const malformed: [string, Buffer, ProxyProtocolReason][] = [
    ['version 1 after the signature', v2(0x11, 0x11, IPV4_BLOCK), 'unsupported-version'],
    ['version 3 after the signature', v2(0x31, 0x11, IPV4_BLOCK), 'unsupported-version'],
    ['version 0 after the signature', v2(0x01, 0x11, IPV4_BLOCK), 'unsupported-version'],
    ['command 2', v2(0x22, 0x11, IPV4_BLOCK), 'unsupported-command'],
    ['command 15', v2(0x2f, 0x11, IPV4_BLOCK), 'unsupported-command'],
    ['family 4', v2(0x21, 0x41, IPV4_BLOCK), 'bad-family'],
    ['protocol 3', v2(0x21, 0x13, IPV4_BLOCK), 'bad-family'],
    ['IPv4 with the UNSPEC protocol', v2(0x21, 0x10, IPV4_BLOCK), 'bad-family'],
    ['UNSPEC with the STREAM protocol', v2(0x21, 0x01), 'bad-family'],
    ['a bad family on LOCAL too', v2(0x20, 0xff), 'bad-family'],
    ['an IPv4 block of 11 bytes', v2(0x21, 0x11, IPV4_BLOCK.slice(0, 11)), 'bad-address'],
    ['an IPv6 block of 35 bytes', v2(0x21, 0x21, Buffer.alloc(35)), 'bad-address'],
    ['a UNIX block of 215 bytes', v2(0x21, 0x31, Buffer.alloc(215)), 'bad-address'],
    ['LOCAL declaring IPv4 with no block', v2(0x20, 0x11), 'bad-address'],
    ['two bytes left after the addresses', ipv4(Buffer.of(0x01, 0x00)), 'bad-tlv'],
    ['a TLV running past the header', ipv4(Buffer.of(0x01, 0x00, 0x05, 0x68, 0x32)), 'bad-tlv'],
    ['a TLV one byte too long', ipv4(tlv(0x01, 'h2').subarray(0, 4)), 'bad-tlv'],
    ['a CRC32C of 3 bytes', ipv4(tlv(0x03, [0, 0, 0])), 'bad-tlv'],
    ['a CRC32C of 5 bytes', ipv4(tlv(0x03, [0, 0, 0, 0, 0])), 'bad-tlv'],
    ['two CRC32C TLVs', ipv4(tlv(0x03, [0, 0, 0, 0]), tlv(0x03, [0, 0, 0, 0])), 'bad-tlv'],
    ['two authorities', ipv4(tlv(0x02, 'a.example'), tlv(0x02, 'b.example')), 'bad-tlv'],
    ['two ALPN TLVs', ipv4(tlv(0x01, 'h2'), tlv(0x01, 'http/1.1')), 'bad-tlv'],
    ['two unique ids', ipv4(tlv(0x05, 'a'), tlv(0x05, 'b')), 'bad-tlv'],
    ['two SSL TLVs', ipv4(tlv(0x20, [1, 0, 0, 0, 0]), tlv(0x20, [1, 0, 0, 0, 0])), 'bad-tlv'],
    ['an authority that is not UTF-8', ipv4(tlv(0x02, [0x66, 0xff, 0x6f])), 'bad-tlv'],
    ['a unique id of 129 bytes', ipv4(tlv(0x05, Buffer.alloc(129))), 'bad-tlv'],
    ['an SSL TLV of 4 bytes', ipv4(tlv(0x20, [1, 0, 0, 0])), 'bad-tlv'],
    ['an SSL sub-TLV running past the SSL TLV', ipv4(tlv(0x20, [1, 0, 0, 0, 0, 0x21, 0x00, 0x09, 0x54])), 'bad-tlv'],
    ['an SSL TLV with a sub-TLV header cut short', ipv4(tlv(0x20, [1, 0, 0, 0, 0, 0x21, 0x00])), 'bad-tlv'],
    ['two SSL versions', ipv4(tlv(0x20, Buffer.concat([Buffer.of(1, 0, 0, 0, 0), tlv(0x21, 'TLSv1.2'), tlv(0x21, 'TLSv1.3')]))), 'bad-tlv'],
    ['a common name that is not UTF-8', ipv4(tlv(0x20, Buffer.concat([Buffer.of(1, 0, 0, 0, 0), tlv(0x22, [0xc3])]))), 'bad-tlv'],
    ['a wrong CRC32C', ipv4(tlv(0x03, [0xde, 0xad, 0xbe, 0xef])), 'checksum'],
    ['a signature one byte off', Buffer.concat([Buffer.from('0d0a0d0a000d0a515549540b', 'hex'), Buffer.alloc(4)]), 'not-proxy'],
    ['a TLS ClientHello', Buffer.from('160301020001', 'hex'), 'not-proxy'],
  ];

  it('refuses every malformed header with its reason', () => {
    for (const [name, bytes, reason] of malformed) {
      const result = parseProxyHeader(bytes);
      assert.equal(result.status, 'invalid', name);
      const error = refused(result);
      assert.equal(error.reason, reason, `${name}: ${error.message}`);
    }
  });

  it('refuses a header over maxHeaderBytes from its length field, before the rest arrives', () => {
    const fixed = v2(0x21, 0x11, Buffer.alloc(20000)).subarray(0, 16);
    const error = refused(parseProxyHeader(fixed));
    assert.equal(error.reason, 'too-long');
    assert.match(error.message, /20016 bytes exceeds the limit of 16384/);
    const header = v2(0x21, 0x11, IPV4_BLOCK, tlv(0xe0, Buffer.alloc(300)));
    assert.equal(refused(parseProxyHeader(header, { maxHeaderBytes: 232 })).reason, 'too-long');
    assert.equal(done(parseProxyHeader(header, { maxHeaderBytes: header.length })).consumed, header.length);
    const largest = v2(0x21, 0x00, tlv(0xe0, Buffer.alloc(0xffff - 3)));
    assert.equal(done(parseProxyHeader(largest, { maxHeaderBytes: 65551 })).consumed, 65551);
  });

  it('refuses a bad maxHeaderBytes with InvalidOptionError', () => {
    for (const maxHeaderBytes of [231, 65552, 1.5, Number.NaN]) {
      assert.throws(() => parseProxyHeader(Buffer.alloc(0), { maxHeaderBytes }), { code: 'ERR_INVALID_OPTION', option: 'maxHeaderBytes' });
    }
  });
});

describe('incremental input', () => {
  const app = Buffer.from('\x00\x01application bytes\r\n');
  const headers: [string, Buffer][] = [
    ['v1 TCP4', line('PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n')],
    ['v1 TCP6', line('PROXY TCP6 2001:db8::1 ::ffff:10.0.0.1 1 65535\r\n')],
    ['v1 UNKNOWN', line('PROXY UNKNOWN\r\n')],
    ['v1 UNKNOWN long', line('PROXY UNKNOWN ::1 ::1 1 2\r\n')],
    ['v2 TCP4', v2(0x21, 0x11, IPV4_BLOCK)],
    ['v2 TCP6 with TLVs', v2(0x21, 0x21, ipv6Block('fe800000000000000000000000000001', '20010db8000000000000000000000002', 1234, 80), tlv(0x01, 'h2'), tlv(0x20, [1, 0, 0, 0, 0]))],
    ['v2 LOCAL', v2(0x20, 0x00)],
    ['v2 checksummed', withChecksum(v2(0x21, 0x11, IPV4_BLOCK, tlv(0x03, [0, 0, 0, 0])), 31)],
  ];

  it('gives every prefix of a valid header as incomplete, and the same header from any split on', () => {
    for (const [name, header] of headers) {
      const bytes = Buffer.concat([header, app]);
      const whole = done(parseProxyHeader(bytes));
      assert.equal(whole.consumed, header.length, name);
      for (let cut = 0; cut <= bytes.length; cut++) {
        const result = parseProxyHeader(bytes.subarray(0, cut));
        if (cut < header.length) assert.equal(result.status, 'incomplete', `${name} cut at ${cut}`);
        else assert.deepEqual(result, whole, `${name} cut at ${cut}`);
      }
    }
  });

  it('reads the same header, and every application byte, from any two chunks or byte by byte', () => {
    for (const [name, header] of headers) {
      const bytes = Buffer.concat([header, app]);
      const expected = done(parseProxyHeader(bytes)).header;
      for (let cut = 0; cut <= bytes.length; cut++) {
        const reader = new ProxyHeaderReader();
        const first = reader.push(Buffer.from(bytes.subarray(0, cut)));
        if (cut < header.length) {
          assert.equal(first.status, 'incomplete', `${name} cut at ${cut}`);
          assert.equal(reader.bufferedBytes, cut);
          const second = reader.push(Buffer.from(bytes.subarray(cut)));
          assert.equal(second.status, 'done', `${name} cut at ${cut}`);
          assert.deepEqual(second.status === 'done' && second.header, expected);
          assert.deepEqual(second.status === 'done' && second.rest, app);
        } else {
          assert.equal(first.status, 'done', `${name} cut at ${cut}`);
          assert.deepEqual(first.status === 'done' && first.header, expected);
          assert.deepEqual(first.status === 'done' && first.rest, app.subarray(0, cut - header.length));
        }
        assert.equal(reader.bufferedBytes, 0);
      }
      const reader = new ProxyHeaderReader();
      let result = reader.push(Buffer.alloc(0));
      for (let i = 0; i < header.length; i++) {
        assert.equal(result.status, 'incomplete', `${name} byte ${i}`);
        result = reader.push(bytes.subarray(i, i + 1));
      }
      assert.equal(result.status, 'done', name);
      assert.deepEqual(result.status === 'done' && result.rest, Buffer.alloc(0));
    }
  });

  it('holds a copy of a partial header, not the chunk it came in', () => {
    const reader = new ProxyHeaderReader();
    const chunk = line('PROXY TCP4 10.0.0.1 10.0.0.2 ');
    assert.equal(reader.push(chunk).status, 'incomplete');
    chunk.fill(0x20);
    const result = reader.push(line('1 2\r\n'));
    assert.equal(result.status, 'done');
    assert.equal(result.status === 'done' && result.header.source?.address, '10.0.0.1');
  });
});

describe('detectProxyHeader', () => {
  it('tells v1, v2, none or incomplete from as few bytes as it takes', () => {
    assert.equal(detectProxyHeader(Buffer.alloc(0)), 'incomplete');
    assert.equal(detectProxyHeader(line('P')), 'incomplete');
    assert.equal(detectProxyHeader(line('PROXY')), 'incomplete');
    assert.equal(detectProxyHeader(line('PROXY ')), 'v1');
    assert.equal(detectProxyHeader(line('PROXY TCP4')), 'v1');
    assert.equal(detectProxyHeader(line('PROXZ')), 'none');
    assert.equal(detectProxyHeader(line('PROXY\r')), 'none');
    assert.equal(detectProxyHeader(line('GET / HTTP/1.1')), 'none');
    assert.equal(detectProxyHeader(line('\r\n\r\n')), 'incomplete');
    assert.equal(detectProxyHeader(line('\r\n\r\nX')), 'none');
    assert.equal(detectProxyHeader(SIGNATURE.subarray(0, 11)), 'incomplete');
    assert.equal(detectProxyHeader(SIGNATURE), 'v2');
    assert.equal(detectProxyHeader(Buffer.from('\x16\x03\x01', 'latin1')), 'none');
  });
});

describe('ProxyHeaderReader', () => {
  it('in optional mode, hands back as the application\'s every byte of a connection without a header', () => {
    for (const text of ['hello', 'PROXZ', 'PROXY\r\n', '\r\n\r\n\r\n']) {
      const reader = new ProxyHeaderReader({ mode: 'optional' });
      const result = reader.push(line(text));
      assert.equal(result.status, 'absent', text);
      assert.deepEqual(result.status === 'absent' && result.rest, line(text));
    }
    // It waits while the bytes could still start a header, then gives them all back.
    const reader = new ProxyHeaderReader({ mode: 'optional' });
    assert.equal(reader.push(line('PRO')).status, 'incomplete');
    const result = reader.push(line('BLEM'));
    assert.deepEqual(result.status === 'absent' && result.rest, line('PROBLEM'));
  });

  it('in optional mode, still requires a header that has begun to be valid', () => {
    const reader = new ProxyHeaderReader({ mode: 'optional' });
    const result = reader.push(line('PROXY TCP4 1.2.3.4 5.6.7.8 99999 1\r\n'));
    assert.equal(result.status, 'invalid');
    assert.equal(result.status === 'invalid' && result.error.reason, 'bad-address');
    const good = new ProxyHeaderReader({ mode: 'optional' }).push(line('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\nx'));
    assert.deepEqual(good.status === 'done' && good.rest, line('x'));
  });

  it('in required mode, refuses a connection without a header', () => {
    const result = new ProxyHeaderReader().push(line('hello'));
    assert.equal(result.status === 'invalid' && result.error.reason, 'not-proxy');
  });

  it('never holds more than the bound: a too-long header is refused, and nothing is kept', () => {
    const reader = new ProxyHeaderReader({ maxHeaderBytes: 300 });
    assert.equal(reader.push(SIGNATURE).status, 'incomplete');
    const result = reader.push(Buffer.of(0x21, 0x11, 0x01, 0x20));
    assert.equal(result.status === 'invalid' && result.error.reason, 'too-long');
    assert.equal(reader.bufferedBytes, 0);
  });

  it('refuses bad options with InvalidOptionError naming them', () => {
    assert.throws(() => new ProxyHeaderReader({ mode: 'sometimes' as 'optional' }), { code: 'ERR_INVALID_OPTION', option: 'mode' });
    assert.throws(() => new ProxyHeaderReader({ maxHeaderBytes: 100 }), { code: 'ERR_INVALID_OPTION', option: 'maxHeaderBytes' });
    assert.throws(() => new ProxyHeaderReader({ maxHeaderByte: 1000 } as never), { name: 'UnknownOptionError', option: 'maxHeaderByte' });
  });
});
