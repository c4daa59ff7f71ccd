/**
 * The TLS benchmarks' certificate: self-signed, EC P-256 (what the tests use too), made with
 * the `openssl` command in a temporary directory at bench time, never committed. The load
 * generator does not verify it, so no CA is needed: one command, not the tests' CA set
 * (test/helpers/certificates.ts, which bench code does not import).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface BenchCertificate {
  readonly cert: string;
  readonly key: string;
  /** Removes the directory. */
  remove(): void;
}

/** @throws when the `openssl` command is missing or fails (its message says which) */
export function makeBenchCertificate(): BenchCertificate {
  const dir = mkdtempSync(join(tmpdir(), 'reactor-bench-tls-'));
  const cert = join(dir, 'localhost.crt');
  const key = join(dir, 'localhost.key');
  try {
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', key, '-out', cert],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`the TLS benchmarks need the openssl command (Debian: apt-get install -y openssl): ${(err as Error).message}`);
  }
  return { cert, key, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
