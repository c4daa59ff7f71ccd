/**
 * Headers that HAProxy 2.6 sent, byte for byte, each followed by what its client sent. They were
 * captured from this configuration (a TCP listener behind each backend, clients bound to
 * 127.0.0.2 or ::1 and the ports below; the TLS client offered ALPN h2, SNI app.example and a
 * certificate the frontend's CA file trusts, CN client.example):
 *
 *   frontend f1  bind 127.0.0.1:16001 -> server ... send-proxy
 *   frontend f2  bind [::1]:16002     -> server ... send-proxy
 *   frontend f3  bind 127.0.0.1:16003 -> server ... send-proxy-v2
 *   frontend f4  bind [::1]:16004, unique-id-format conn-%ci-%cp
 *                -> server ... send-proxy-v2 proxy-v2-options crc32c,unique-id
 *   frontend f5  bind 127.0.0.1:16005 ssl crt ... ca-file ... verify optional alpn h2,http/1.1,
 *                unique-id-format tls-%ci
 *                -> server ... send-proxy-v2-ssl-cn
 *                   proxy-v2-options ssl,cert-cn,ssl-cipher,cert-sig,cert-key,authority,crc32c,unique-id
 *   server ... send-proxy-v2 check check-send-proxy   (the health check's header)
 *   server ... send-proxy check check-send-proxy      (the same, version 1)
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ProxyHeaderReader, parseProxyHeader, type ProxyHeader } from '../../src/index.js';

const SENT = {
  v1TcpOverIPv4: [
    '50524f58592054435034203132372e302e302e32203132372e302e302e312034303030312031363030310d0a68656c6c',
    '6f0a',
  ].join(''),
  v1TcpOverIPv6: '50524f58592054435036203a3a31203a3a312034303030322031363030320d0a68656c6c6f0a',
  v2TcpOverIPv4: '0d0a0d0a000d0a515549540a2111000c7f0000027f0000019c433e8368656c6c6f0a',
  v2WithChecksumAndUniqueId: [
    '0d0a0d0a000d0a515549540a2121003c0000000000000000000000000000000100000000000000000000000000000001',
    '9c443e8403000483810c4005000e636f6e6e2d3a3a312d343030303468656c6c6f0a',
  ].join(''),
  v2FromTls: [
    '0d0a0d0a000d0a515549540a211100897f0000017f0000019a643e85030004cdfe2c3b010002683202000b6170702e65',
    '78616d706c6505000d746c732d3132372e302e302e312000500700000000210007544c5376312e3322000e636c69656e',
    '742e6578616d706c652500075253413230343824000a5253412d534841323536230016544c535f4145535f3235365f47',
    '434d5f53484133383468656c6c6f0a',
  ].join(''),
  v2HealthCheck: '0d0a0d0a000d0a515549540a20000000',
  v1HealthCheck: '50524f58592054435034203132372e302e302e31203132372e302e302e312034323637362031373030370d0a',
};

const hello = Buffer.from('hello\n');

function parsed(name: keyof typeof SENT): { header: ProxyHeader; rest: Buffer } {
  const bytes = Buffer.from(SENT[name], 'hex');
  const result = parseProxyHeader(bytes);
  assert.equal(result.status, 'done', result.status === 'invalid' ? result.error.message : result.status);
  return result.status === 'done' ? { header: result.header, rest: bytes.subarray(result.consumed) } : assert.fail();
}

const noTlvs = { checksummed: false, raw: [] };

describe('headers HAProxy sent', () => {
  it('version 1 from an IPv4 client, and from an IPv6 one', () => {
    assert.deepEqual(parsed('v1TcpOverIPv4'), {
      header: { version: 1, command: 'proxy', family: 'tcp4', source: { address: '127.0.0.2', port: 40001 }, destination: { address: '127.0.0.1', port: 16001 }, tlvs: noTlvs },
      rest: hello,
    });
    assert.deepEqual(parsed('v1TcpOverIPv6'), {
      header: { version: 1, command: 'proxy', family: 'tcp6', source: { address: '::1', port: 40002 }, destination: { address: '::1', port: 16002 }, tlvs: noTlvs },
      rest: hello,
    });
  });

  it('version 2 from an IPv4 client', () => {
    assert.deepEqual(parsed('v2TcpOverIPv4'), {
      header: { version: 2, command: 'proxy', family: 'tcp4', source: { address: '127.0.0.2', port: 40003 }, destination: { address: '127.0.0.1', port: 16003 }, tlvs: noTlvs },
      rest: hello,
    });
  });

  it('version 2 from an IPv6 client, with a checksum and a unique id', () => {
    const { header, rest } = parsed('v2WithChecksumAndUniqueId');
    assert.equal(header.family, 'tcp6');
    assert.deepEqual(header.source, { address: '::1', port: 40004 });
    assert.deepEqual(header.destination, { address: '::1', port: 16004 });
    assert.equal(header.tlvs.checksummed, true);
    assert.equal(header.tlvs.uniqueId?.toString(), 'conn-::1-40004');
    assert.deepEqual(rest, hello);
  });

  it('version 2 from a TLS client: ALPN, authority, unique id and the SSL TLV', () => {
    const { header, rest } = parsed('v2FromTls');
    assert.equal(header.family, 'tcp4');
    assert.deepEqual(header.destination, { address: '127.0.0.1', port: 16005 });
    const { raw, ...tlvs } = header.tlvs;
    assert.deepEqual(tlvs, {
      checksummed: true,
      alpn: 'h2',
      authority: 'app.example',
      uniqueId: Buffer.from('tls-127.0.0.1'),
      ssl: {
        client: 0x07,
        tls: true,
        certificateInConnection: true,
        certificateInSession: true,
        verifyResult: 0,
        verified: true,
        version: 'TLSv1.3',
        commonName: 'client.example',
        keyAlgorithm: 'RSA2048',
        signatureAlgorithm: 'RSA-SHA256',
        cipher: 'TLS_AES_256_GCM_SHA384',
      },
    });
    assert.deepEqual(
      raw.map((tlv) => tlv.type),
      [0x03, 0x01, 0x02, 0x05, 0x20],
    );
    assert.deepEqual(rest, hello);
  });

  it("health checks' headers: LOCAL in version 2, the check's own addresses in version 1", () => {
    assert.deepEqual(parsed('v2HealthCheck'), { header: { version: 2, command: 'local', family: 'unspec', tlvs: noTlvs }, rest: Buffer.alloc(0) });
    const { header } = parsed('v1HealthCheck');
    assert.deepEqual(header.destination, { address: '127.0.0.1', port: 17007 });
  });

  it('reads each the same byte by byte', () => {
    for (const name of Object.keys(SENT) as (keyof typeof SENT)[]) {
      const bytes = Buffer.from(SENT[name], 'hex');
      const reader = new ProxyHeaderReader();
      let result = reader.push(Buffer.alloc(0));
      let at = 0;
      while (result.status === 'incomplete' && at < bytes.length) result = reader.push(bytes.subarray(at, ++at));
      assert.equal(result.status, 'done', name);
      const expected = parsed(name);
      assert.deepEqual(result.status === 'done' && result.header, expected.header, name);
      assert.deepEqual(Buffer.concat([result.status === 'done' ? result.rest : Buffer.alloc(0), bytes.subarray(at)]), expected.rest, name);
    }
  });

  it('refuses the TLS header with its SNI changed by one letter: the checksum no longer matches', () => {
    const bytes = Buffer.from(SENT.v2FromTls, 'hex');
    const at = bytes.indexOf('app.example');
    bytes[at] = 0x41; // 'A'
    const result = parseProxyHeader(bytes);
    assert.equal(result.status === 'invalid' && result.error.reason, 'checksum');
  });
});
