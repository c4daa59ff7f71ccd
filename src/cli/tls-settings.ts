/**
 * The TLS settings of `start` (files on disk) as the library's TlsOptions (PEM bytes): read at
 * start, and again on SIGHUP to rotate the material without a restart.
 */
import { readFileSync } from 'node:fs';
import { InvalidOptionError } from '../core/errors.js';
import type { TlsOptions } from '../transport/node-tls.js';

export interface TlsSettings {
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  tlsClientAuth: 'none' | 'request' | 'require';
  tlsMinVersion: '1.2' | '1.3';
  tlsHandshakeTimeout: number;
  tlsAlpn?: string;
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

/** The setting a library option name stands for (`tls.key` -> `tlsKey`); others unchanged. */
export function settingOfOption(option: string): string {
  return SETTING_OF[option] ?? option;
}

function readPem(setting: keyof TlsSettings, file: string): Buffer {
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
  const { tlsCert, tlsKey, tlsCa, tlsClientAuth, tlsAlpn } = settings;
  if (tlsCert === undefined) {
    if (tlsKey !== undefined) throw new InvalidOptionError('tlsCert', 'is needed with tlsKey');
    if (tlsCa !== undefined || tlsClientAuth !== 'none' || tlsAlpn !== undefined) throw new InvalidOptionError('tlsCert', 'is needed for TLS (tlsCa, tlsClientAuth and tlsAlpn configure it)');
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
  };
}
