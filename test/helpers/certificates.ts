/**
 * Certificates made at test time with the `openssl` command, never committed: a CA, a server
 * certificate it signed (for `localhost` and 127.0.0.1), a client certificate it signed, and a
 * client certificate from another CA the server does not trust, and certificates for SNI. EC P-256 keys: quick to make.
 * No side effects on import.
 */
import { execFileSync } from 'node:child_process';
import { after, before } from 'node:test';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TlsOptions } from '../../src/index.js';

export interface CertificateFiles {
  readonly dir: string;
  /** The CA that signed the server and the trusted client certificate. */
  readonly caCert: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
  /** A client certificate signed by a CA the server does not know. */
  readonly strangerCert: string;
  readonly strangerKey: string;
  /** A second server certificate and key, for rotation. */
  readonly nextServerCert: string;
  readonly nextServerKey: string;
  /** Certificates for SNI, signed by the CA: `api.test` only, and the wildcard `*.shop.test`. */
  readonly apiCert: string;
  readonly apiKey: string;
  readonly shopCert: string;
  readonly shopKey: string;
  /** Reads one of the files above. */
  read(file: string): Buffer;
  /** A server's `tls` option with the server certificate and key, plus `extra`. */
  serverTls(extra?: Partial<TlsOptions>): TlsOptions;
  /** Removes the directory. */
  remove(): void;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function makeKey(dir: string, name: string): string {
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`], dir);
  return join(dir, `${name}.key`);
}

function makeCa(dir: string, name: string): { cert: string; key: string } {
  const key = makeKey(dir, name);
  openssl(['req', '-x509', '-new', '-key', key, '-days', '2', '-subj', `/CN=${name}`, '-out', `${name}.crt`], dir);
  return { cert: join(dir, `${name}.crt`), key };
}

function makeSigned(dir: string, name: string, ca: { cert: string; key: string }, extensions: string): { cert: string; key: string } {
  const key = makeKey(dir, name);
  openssl(['req', '-new', '-key', key, '-subj', `/CN=${name}`, '-out', `${name}.csr`], dir);
  writeFileSync(join(dir, `${name}.ext`), extensions);
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.crt`], dir);
  return { cert: join(dir, `${name}.crt`), key };
}

const SERVER_EXTENSIONS = 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n';
const CLIENT_EXTENSIONS = 'extendedKeyUsage=clientAuth\n';

/** Makes a fresh set in a new temporary directory. */
export function makeCertificates(): CertificateFiles {
  const dir = mkdtempSync(join(tmpdir(), 'reactor-tls-'));
  const ca = makeCa(dir, 'test-ca');
  const server = makeSigned(dir, 'localhost', ca, SERVER_EXTENSIONS);
  const next = makeSigned(dir, 'localhost-next', ca, SERVER_EXTENSIONS);
  const api = makeSigned(dir, 'api.test', ca, 'subjectAltName=DNS:api.test\nextendedKeyUsage=serverAuth\n');
  const shop = makeSigned(dir, 'shop.test', ca, 'subjectAltName=DNS:*.shop.test\nextendedKeyUsage=serverAuth\n');
  const client = makeSigned(dir, 'trusted-client', ca, CLIENT_EXTENSIONS);
  const strangerCa = makeCa(dir, 'stranger-ca');
  const stranger = makeSigned(dir, 'stranger-client', strangerCa, CLIENT_EXTENSIONS);
  return {
    dir,
    caCert: ca.cert,
    serverCert: server.cert,
    serverKey: server.key,
    clientCert: client.cert,
    clientKey: client.key,
    strangerCert: stranger.cert,
    strangerKey: stranger.key,
    nextServerCert: next.cert,
    nextServerKey: next.key,
    apiCert: api.cert,
    apiKey: api.key,
    shopCert: shop.cert,
    shopKey: shop.key,
    read: (file) => readFileSync(file),
    serverTls: (extra = {}) => ({ cert: readFileSync(server.cert), key: readFileSync(server.key), ...extra }),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * Certificates for the test file that calls this (at its top level): made before its tests,
 * removed after them. The object is filled in by the `before` hook.
 */
export function suiteCertificates(): CertificateFiles {
  const files = {} as CertificateFiles;
  before(() => void Object.assign(files, makeCertificates()));
  after(() => files.remove());
  return files;
}
