import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatHostPort } from '../../src/net/host-port.js';

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
