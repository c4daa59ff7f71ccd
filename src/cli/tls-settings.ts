/**
 * The TLS settings of `start` (files on disk) as the library's TlsOptions (PEM bytes): read at
 * start, and again on SIGHUP to rotate the material without a restart.
 */
import { readFileSync } from 'node:fs';
import { InvalidArgumentError } from 'commander';
import { InvalidOptionError } from '../core/errors.js';
import { isServerNamePattern } from '../transport/sni-contexts.js';
import type { TlsOptions } from '../transport/node-tls.js';

/** Certificate and key files for one server name. */
export interface SniFiles {
  cert: string;
  key: string;
}

export interface TlsSettings {
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  tlsClientAuth: 'none' | 'request' | 'require';
  tlsMinVersion: '1.2' | '1.3';
  tlsHandshakeTimeout: number;
  tlsAlpn?: string;
  /** Certificate files by server name (SNI). */
  tlsSni?: Record<string, SniFiles>;
}

/** The library's names for what went wrong, as the settings' names. */
const SETTING_OF: Readonly<Record<string, keyof TlsSettings>> = {
  'tls.cert': 'tlsCert',
  'tls.key': 'tlsKey',
  'tls.ca': 'tlsCa',
  'tls.clientAuth': 'tlsClientAuth',
  'tls.minVersion': 'tlsMinVersion',
  'tls.handshakeTimeout': 'tlsHandshakeTimeout',
  'tls.alpn': 'tlsAlpn',
};

/** The setting a library option name stands for (`tls.key` -> `tlsKey`, `tls.sni.NAME.cert` -> `tlsSni.NAME.cert`); others unchanged. */
export function settingOfOption(option: string): string {
  if (option.startsWith('tls.sni')) return `tlsSni${option.slice('tls.sni'.length)}`;
  return SETTING_OF[option] ?? option;
}

/**
 * `--tls-sni` and REACTOR_TLS_SNI: `NAME=CERT:KEY`, several separated by commas
 * (`api.example.com=api.crt:api.key,*.example.com=wild.crt:wild.key`).
 * @throws InvalidArgumentError for an entry not of that form or a name given twice
 */
export function parseSniSpec(value: string): Record<string, SniFiles> {
  const map: Record<string, SniFiles> = {};
  for (const entry of value.split(',').map((e) => e.trim()).filter((e) => e !== '')) {
    const match = /^([^=]+)=([^:]+):(.+)$/.exec(entry);
    if (match === null) throw new InvalidArgumentError(`${JSON.stringify(entry)} is not NAME=CERT:KEY.`);
    const [, name, cert, key] = match;
    if (!isServerNamePattern(name)) throw new InvalidArgumentError(`${JSON.stringify(name)} is not a server name (example.com or *.example.com).`);
    if (Object.hasOwn(map, name.toLowerCase())) throw new InvalidArgumentError(`${JSON.stringify(name)} is given twice.`);
    map[name.toLowerCase()] = { cert, key };
  }
  if (Object.keys(map).length === 0) throw new InvalidArgumentError('needs at least one NAME=CERT:KEY.');
  return map;
}

/**
 * A `tlsSni` value from a config file: the flag's string form, or a map from server name to
 * `{ "cert": FILE, "key": FILE }`.
 * @throws Error saying which name or field is wrong
 */
export function sniFilesOf(value: unknown): Record<string, SniFiles> {
  if (typeof value === 'string') return parseSniSpec(value);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('must be a map from server name to { "cert": FILE, "key": FILE }, or "NAME=CERT:KEY,..."');
  const map: Record<string, SniFiles> = {};
  for (const [name, entry] of Object.entries(value)) {
    if (!isServerNamePattern(name)) throw new Error(`${JSON.stringify(name)} is not a server name (example.com or *.example.com)`);
    const { cert, key, ...rest } = (typeof entry === 'object' && entry !== null ? entry : {}) as Record<string, unknown>;
    for (const [field, file] of [['cert', cert], ['key', key]] as const) {
      if (typeof file !== 'string' || file === '') throw new Error(`${name}.${field} must be a file name, got ${JSON.stringify(file)}`);
    }
    const unknown = Object.keys(rest);
    if (unknown.length > 0) throw new Error(`${name}.${unknown[0]} is not a setting (only cert and key)`);
    map[name.toLowerCase()] = { cert: cert as string, key: key as string };
  }
  return map;
}

function readSni(files: Record<string, SniFiles>): Record<string, { cert: Buffer; key: Buffer }> {
  return Object.fromEntries(Object.entries(files).map(([name, { cert, key }]) => [name, { cert: readPem(`tlsSni.${name}.cert`, cert), key: readPem(`tlsSni.${name}.key`, key) }]));
}

function readPem(setting: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new InvalidOptionError(setting, `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/**
 * The TlsOptions the settings describe, files read; undefined when TLS is off (no certificate).
 * @throws InvalidOptionError naming the setting: an unreadable file, a key without a
 *   certificate or the other way round, TLS settings without a certificate
 */
export function tlsOptionsOf(settings: TlsSettings): TlsOptions | undefined {
  const { tlsCert, tlsKey, tlsCa, tlsClientAuth, tlsAlpn, tlsSni } = settings;
  if (tlsCert === undefined) {
    if (tlsKey !== undefined) throw new InvalidOptionError('tlsCert', 'is needed with tlsKey');
    if (tlsCa !== undefined || tlsClientAuth !== 'none' || tlsAlpn !== undefined || tlsSni !== undefined) {
      throw new InvalidOptionError('tlsCert', 'is needed for TLS (tlsCa, tlsClientAuth, tlsAlpn and tlsSni configure it; tlsCert is the certificate for every other name)');
    }
    return undefined;
  }
  if (tlsKey === undefined) throw new InvalidOptionError('tlsKey', 'is needed with tlsCert');
  return {
    cert: readPem('tlsCert', tlsCert),
    key: readPem('tlsKey', tlsKey),
    ...(tlsCa === undefined ? {} : { ca: readPem('tlsCa', tlsCa) }),
    clientAuth: tlsClientAuth,
    minVersion: settings.tlsMinVersion,
    handshakeTimeout: settings.tlsHandshakeTimeout,
    ...(tlsAlpn === undefined ? {} : { alpn: tlsAlpn.split(',').map((p) => p.trim()).filter((p) => p !== '') }),
    ...(tlsSni === undefined ? {} : { sni: readSni(tlsSni) }),
  };
}
