import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatHostPort, parseAddressPort } from '../../src/core/host-port.js';

describe('formatHostPort', () => {
  it('writes IPv4 addresses and names as host:port', () => {
    assert.equal(formatHostPort('127.0.0.1', 8888), '127.0.0.1:8888');
    assert.equal(formatHostPort('localhost', 0), 'localhost:0');
  });

  it('puts IPv6 addresses in brackets, so that URLs built from it parse', () => {
    for (const host of ['::1', '::', 'fe80::1', '::ffff:127.0.0.1']) {
      const written = formatHostPort(host, 9464);
      assert.equal(written, `[${host}]:9464`);
      const url = new URL(`http://${written}/metrics`);
      assert.equal(url.port, '9464');
    }
  });
});

describe('parseAddressPort', () => {
  it('reads ADDRESS:PORT, an IPv6 address in brackets and written as Node.js writes it', () => {
    assert.deepEqual(parseAddressPort('192.0.2.1:5000', 'proxySource'), { address: '192.0.2.1', port: 5000 });
    assert.deepEqual(parseAddressPort('[2001:DB8:0::1]:0', 'proxySource'), { address: '2001:db8::1', port: 0 });
    assert.deepEqual(parseAddressPort('[::ffff:10.0.0.1]:65535', 'proxySource'), { address: '::ffff:10.0.0.1', port: 65535 });
    assert.deepEqual(parseAddressPort(formatHostPort('::1', 8888), 'proxySource'), { address: '::1', port: 8888 });
  });

  it('refuses anything else with InvalidOptionError naming the setting', () => {
    for (const text of ['192.0.2.1', '192.0.2.1:', '192.0.2.1:65536', '192.0.2.1:-1', '192.0.2.1:8o', 'localhost:80', '::1:80', '[::1]', '[::1:80', '[]:80', '[1.2.3.4]:80', ':80', '', 80]) {
      assert.throws(() => parseAddressPort(text, 'proxySource'), { code: 'ERR_INVALID_OPTION', option: 'proxySource' }, String(text));
    }
  });
});
