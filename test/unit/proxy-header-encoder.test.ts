import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PP2_TYPE, encodeProxyHeader, encodeSslTlv, parseProxyHeader, type ProxyHeaderInit } from '../../src/index.js';
import { crc32c } from '../../src/proxy/crc32c.js';

const SIGNATURE = '0d0a0d0a000d0a515549540a';
const client = { address: '192.168.0.1', port: 56324 };
const server = { address: '192.168.0.11', port: 443 };

describe('encodeProxyHeader, version 1', () => {
  it("writes the specification's example line", () => {
    assert.equal(encodeProxyHeader({ version: 1, source: client, destination: server }).toString('latin1'), 'PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n');
  });

  it('writes TCP6 when either address is IPv6, the IPv4 one mapped, as HAProxy does', () => {
    const header = encodeProxyHeader({ version: 1, source: { address: '2001:DB8:0:0::1', port: 1 }, destination: server });
    assert.equal(header.toString('latin1'), 'PROXY TCP6 2001:db8::1 ::ffff:192.168.0.11 1 443\r\n');
  });

  it('writes PROXY UNKNOWN without addresses', () => {
    assert.equal(encodeProxyHeader({ version: 1 }).toString('latin1'), 'PROXY UNKNOWN\r\n');
  });
});

describe('encodeProxyHeader, version 2', () => {
  it('lays out TCP over IPv4 as the specification does', () => {
    const header = encodeProxyHeader({ version: 2, source: client, destination: server });
    assert.equal(header.toString('hex'), `${SIGNATURE}2111000c` + 'c0a80001' + 'c0a8000b' + 'dc04' + '01bb');
  });

  it('lays out UDP over IPv6 with IPv4 addresses mapped', () => {
    const header = encodeProxyHeader({ version: 2, protocol: 'udp', source: { address: '::1', port: 0 }, destination: { address: '10.0.0.1', port: 65535 } });
    assert.equal(header.toString('hex'), `${SIGNATURE}21220024` + '00000000000000000000000000000001' + '00000000000000000000ffff0a000001' + '0000' + 'ffff');
  });

  it('writes LOCAL, and PROXY without addresses, with the UNSPEC family', () => {
    assert.equal(encodeProxyHeader({ version: 2, command: 'local' }).toString('hex'), `${SIGNATURE}20000000`);
    assert.equal(encodeProxyHeader({ version: 2 }).toString('hex'), `${SIGNATURE}21000000`);
  });

  it('writes TLVs in the order given, strings as UTF-8', () => {
    const header = encodeProxyHeader({ version: 2, command: 'local', tlvs: [{ type: PP2_TYPE.AUTHORITY, value: 'é' }, { type: 0xe0, value: Uint8Array.of(1, 2) }] });
    assert.equal(header.toString('hex'), `${SIGNATURE}2000000a` + '020002c3a9' + 'e000020102');
  });

  it('ends with a CRC32C TLV over the whole header, its own field counted as zeros', () => {
    const header = encodeProxyHeader({ version: 2, source: client, destination: server, checksum: true });
    assert.equal(header.length, 16 + 12 + 7);
    assert.equal(header.subarray(28, 31).toString('hex'), '030004');
    const zeroed = Buffer.from(header);
    zeroed.writeUInt32BE(0, 31);
    assert.equal(header.readUInt32BE(31), crc32c(zeroed));
    const parsed = parseProxyHeader(header);
    assert.equal(parsed.status === 'done' && parsed.header.tlvs.checksummed, true);
  });

  it('builds an SSL TLV with its flags, verify result and sub-TLVs', () => {
    const tlv = encodeSslTlv({ certificateInConnection: true, verifyResult: 0, version: 'TLSv1.3', commonName: 'ü' });
    assert.equal(tlv.type, PP2_TYPE.SSL);
    assert.equal(Buffer.from(tlv.value as Uint8Array).toString('hex'), '03' + '00000000' + '210007' + Buffer.from('TLSv1.3').toString('hex') + '220002c3bc');
    assert.equal(Buffer.from(encodeSslTlv({ tls: false }).value as Uint8Array).toString('hex'), '0000000000');
  });
});

describe('encodeProxyHeader refuses what it cannot encode, naming the field', () => {
  const cases: [string, unknown, string][] = [
    ['version 3', { version: 3 }, 'version'],
    ['no version', {}, 'version'],
    ['an unknown key', { version: 2, sorce: client }, 'sorce'],
    ['an unknown command', { version: 2, command: 'health' }, 'command'],
    ['LOCAL in version 1', { version: 1, command: 'local' }, 'command'],
    ['LOCAL with addresses', { version: 2, command: 'local', source: client, destination: server }, 'command'],
    ['a source without destination', { version: 2, source: client }, 'destination'],
    ['a destination without source', { version: 2, destination: server }, 'source'],
    ['a host name', { version: 1, source: { address: 'localhost', port: 1 }, destination: server }, 'source.address'],
    ['an IPv4 address with a leading zero', { version: 1, source: client, destination: { address: '10.0.0.01', port: 1 } }, 'destination.address'],
    ['a port over 65535', { version: 2, source: { ...client, port: 65536 }, destination: server }, 'source.port'],
    ['a port as a string', { version: 2, source: client, destination: { ...server, port: '443' } }, 'destination.port'],
    ['an unknown endpoint key', { version: 2, source: { ...client, host: 'x' }, destination: server }, 'source.host'],
    ['UDP in version 1', { version: 1, protocol: 'udp' }, 'protocol'],
    ['TLVs in version 1', { version: 1, tlvs: [] }, 'tlvs'],
    ['a checksum in version 1', { version: 1, checksum: true }, 'checksum'],
    ['TLVs that are not an array', { version: 2, tlvs: { type: 1, value: 'x' } }, 'tlvs'],
    ['a TLV type over 255', { version: 2, tlvs: [{ type: 256, value: '' }] }, 'tlvs[0].type'],
    ['a CRC32C TLV given by hand', { version: 2, tlvs: [{ type: 3, value: new Uint8Array(4) }] }, 'tlvs[0].type'],
    ['a TLV value that is a number', { version: 2, tlvs: [{ type: 1, value: 7 }] }, 'tlvs[0].value'],
    ['a TLV value over 65535 bytes', { version: 2, tlvs: [{ type: 0xe0, value: new Uint8Array(65536) }] }, 'tlvs[0].value'],
    ['TLVs over 65535 bytes in all', { version: 2, tlvs: [{ type: 0xe0, value: new Uint8Array(40000) }, { type: 0xe1, value: new Uint8Array(30000) }] }, 'tlvs'],
  ];

  for (const [name, init, option] of cases) {
    it(name, () => {
      assert.throws(() => encodeProxyHeader(init as ProxyHeaderInit), (error: Error & { code?: string; option?: string }) => {
        assert.equal(error.code, 'ERR_INVALID_OPTION');
        assert.equal(error.option, option, error.message);
        return true;
      });
    });
  }

  it('an SSL TLV field of the wrong type', () => {
    assert.throws(() => encodeSslTlv({ cipher: 5 as unknown as string }), { code: 'ERR_INVALID_OPTION', option: 'ssl.cipher' });
    assert.throws(() => encodeSslTlv({ tls: 'yes' as unknown as boolean }), { code: 'ERR_INVALID_OPTION', option: 'ssl.tls' });
    assert.throws(() => encodeSslTlv({ verifyResult: -1 }), { code: 'ERR_INVALID_OPTION', option: 'ssl.verifyResult' });
    assert.throws(() => encodeSslTlv({ clientCertificate: new Uint8Array(70000) }), { code: 'ERR_INVALID_OPTION', option: 'ssl' });
  });
});
