/**
 * Builds PROXY protocol headers, versions 1 and 2, as a proxy would send them: the client
 * library, `send` and `bench` use it to reach a server configured for a proxy without one, and
 * the tests use it to speak to the parser.
 */
import { InvalidOptionError } from '../core/errors.js';
import { describeValue, rejectUnknownOptions, requireBoolean, requireInteger, requireOneOf, requireOptionsObject } from '../core/option-checks.js';
import { formatIPv4, formatIPv6, parseIPv4, parseIPv6Into } from '../core/ip-address.js';
import { crc32c } from './crc32c.js';
import { PP2_CLIENT, PP2_SUBTYPE_SSL, PP2_TYPE, PROXY_V2_FIXED_BYTES, PROXY_V2_SIGNATURE, type ProxyCommand, type ProxyEndpoint, type ProxySslInfo, type ProxyVersion } from './proxy-header.js';

/** A TLV to send: a string value goes out as UTF-8. */
export interface ProxyTlvInit {
  type: number;
  value: Uint8Array | string;
}

export interface ProxyHeaderInit {
  version: ProxyVersion;
  /**
   * `proxy` (default) or, version 2 only, `local` (the proxy's own connection, no addresses).
   */
  command?: ProxyCommand;
  /**
   * The client's address and port, and the one it connected to: both or neither. Two IPv4
   * addresses make a TCP4 header; otherwise TCP6, an IPv4 address written IPv4-mapped
   * (`::ffff:192.0.2.1`), as HAProxy does. Neither: version 1 `PROXY UNKNOWN`, version 2 the
   * UNSPEC family.
   */
  source?: ProxyEndpoint;
  destination?: ProxyEndpoint;
  /** Version 2: `tcp` (default) or `udp`. */
  protocol?: 'tcp' | 'udp';
  /** Version 2: TLVs, sent in this order. PP2_TYPE_CRC32C is not one of them: see `checksum`. */
  tlvs?: readonly ProxyTlvInit[];
  /** Version 2: end with a PP2_TYPE_CRC32C TLV over the whole header. Default false. */
  checksum?: boolean;
}

const INIT_OPTION_NAMES = Object.keys({
  version: true,
  command: true,
  source: true,
  destination: true,
  protocol: true,
  tlvs: true,
  checksum: true,
} satisfies Record<keyof ProxyHeaderInit, true>);

/** An address as bytes: 4 for IPv4, 16 for IPv6. */
function addressBytes(name: string, endpoint: unknown): { bytes: Uint8Array; port: number } {
  requireOptionsObject(name, endpoint);
  rejectUnknownOptions(endpoint, ['address', 'port'], `${name}.`);
  const { address, port } = endpoint as Partial<ProxyEndpoint>;
  requireInteger(`${name}.port`, port, 0, 0xffff);
  if (typeof address === 'string') {
    const v4 = parseIPv4(address);
    if (v4 >= 0) return { bytes: Uint8Array.of(v4 >>> 24, (v4 >>> 16) & 0xff, (v4 >>> 8) & 0xff, v4 & 0xff), port };
    const v6 = new Uint8Array(16);
    if (parseIPv6Into(address, v6)) return { bytes: v6, port };
  }
  throw new InvalidOptionError(`${name}.address`, `must be an IPv4 or IPv6 address, got ${describeValue(address)}`);
}

/** IPv4 bytes as IPv4-mapped IPv6; IPv6 bytes unchanged. */
function asIPv6(bytes: Uint8Array): Uint8Array {
  if (bytes.length === 16) return bytes;
  const mapped = new Uint8Array(16);
  mapped[10] = 0xff;
  mapped[11] = 0xff;
  mapped.set(bytes, 12);
  return mapped;
}

/**
 * The header `init` describes, ready to be written before anything else on the connection.
 * @throws InvalidOptionError naming the first field that cannot be encoded
 */
export function encodeProxyHeader(init: ProxyHeaderInit): Buffer {
  requireOptionsObject('header', init);
  rejectUnknownOptions(init, INIT_OPTION_NAMES);
  if (init.version !== 1 && init.version !== 2) throw new InvalidOptionError('version', `must be 1 or 2, got ${describeValue(init.version)}`);
  const command = init.command ?? 'proxy';
  requireOneOf('command', command, ['proxy', 'local'] as const);
  const protocol = init.protocol ?? 'tcp';
  requireOneOf('protocol', protocol, ['tcp', 'udp'] as const);
  if ((init.source === undefined) !== (init.destination === undefined)) {
    throw new InvalidOptionError(init.source === undefined ? 'source' : 'destination', 'source and destination go together: give both, or neither');
  }
  const source = init.source === undefined ? undefined : addressBytes('source', init.source);
  const destination = init.destination === undefined ? undefined : addressBytes('destination', init.destination);
  if (command === 'local' && source !== undefined) throw new InvalidOptionError('command', 'a LOCAL header carries no addresses');
  const checksum = init.checksum ?? false;
  requireBoolean('checksum', checksum);
  if (init.version === 1) {
    if (command === 'local') throw new InvalidOptionError('command', 'version 1 has no LOCAL command');
    if (protocol !== 'tcp') throw new InvalidOptionError('protocol', 'version 1 carries TCP only');
    if (init.tlvs !== undefined) throw new InvalidOptionError('tlvs', 'version 1 has no TLVs');
    if (checksum) throw new InvalidOptionError('checksum', 'version 1 has no checksum');
    return encodeV1(source, destination);
  }
  return encodeV2(command, protocol, source, destination, tlvBytes(init.tlvs), checksum);
}

function encodeV1(source: { bytes: Uint8Array; port: number } | undefined, destination: { bytes: Uint8Array; port: number } | undefined): Buffer {
  if (source === undefined || destination === undefined) return Buffer.from('PROXY UNKNOWN\r\n', 'latin1');
  const line =
    source.bytes.length === 4 && destination.bytes.length === 4
      ? `PROXY TCP4 ${formatIPv4(source.bytes)} ${formatIPv4(destination.bytes)} ${source.port} ${destination.port}\r\n`
      : `PROXY TCP6 ${formatIPv6(asIPv6(source.bytes))} ${formatIPv6(asIPv6(destination.bytes))} ${source.port} ${destination.port}\r\n`;
  return Buffer.from(line, 'latin1');
}

/** The TLVs as wire bytes, each checked. */
function tlvBytes(tlvs: readonly ProxyTlvInit[] | undefined): Buffer[] {
  if (tlvs === undefined) return [];
  if (!Array.isArray(tlvs)) throw new InvalidOptionError('tlvs', `must be an array of { type, value }, got ${describeValue(tlvs)}`);
  return tlvs.map((tlv: unknown, index) => {
    const name = `tlvs[${index}]`;
    requireOptionsObject(name, tlv);
    rejectUnknownOptions(tlv, ['type', 'value'], `${name}.`);
    const { type, value } = tlv as Partial<ProxyTlvInit>;
    requireInteger(`${name}.type`, type, 0, 0xff);
    if (type === PP2_TYPE.CRC32C) throw new InvalidOptionError(`${name}.type`, 'the CRC32C TLV is computed: set checksum: true instead');
    if (typeof value !== 'string' && !(value instanceof Uint8Array)) {
      throw new InvalidOptionError(`${name}.value`, `must be bytes or a string, got ${describeValue(value)}`);
    }
    const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    if (bytes.length > 0xffff) throw new InvalidOptionError(`${name}.value`, `must be at most 65535 bytes, got ${bytes.length}`);
    const out = Buffer.allocUnsafe(3 + bytes.length);
    out[0] = type;
    out.writeUInt16BE(bytes.length, 1);
    out.set(bytes, 3);
    return out;
  });
}

function encodeV2(
  command: ProxyCommand,
  protocol: 'tcp' | 'udp',
  source: { bytes: Uint8Array; port: number } | undefined,
  destination: { bytes: Uint8Array; port: number } | undefined,
  tlvs: readonly Buffer[],
  checksum: boolean,
): Buffer {
  let familyByte = 0x00;
  let addressLength = 0;
  if (source !== undefined && destination !== undefined) {
    const ipv4 = source.bytes.length === 4 && destination.bytes.length === 4;
    familyByte = (ipv4 ? 0x10 : 0x20) | (protocol === 'tcp' ? 0x01 : 0x02);
    addressLength = ipv4 ? 12 : 36;
  }
  const tlvLength = tlvs.reduce((sum, tlv) => sum + tlv.length, 0) + (checksum ? 7 : 0);
  const length = addressLength + tlvLength;
  if (length > 0xffff) throw new InvalidOptionError('tlvs', `the header would carry ${length} bytes after its fixed part, more than 65535`);
  const out = Buffer.allocUnsafe(PROXY_V2_FIXED_BYTES + length);
  out.set(PROXY_V2_SIGNATURE, 0);
  out[12] = 0x20 | (command === 'proxy' ? 1 : 0);
  out[13] = familyByte;
  out.writeUInt16BE(length, 14);
  let at = PROXY_V2_FIXED_BYTES;
  if (source !== undefined && destination !== undefined) {
    const size = addressLength === 12 ? 4 : 16;
    out.set(size === 4 ? source.bytes : asIPv6(source.bytes), at);
    out.set(size === 4 ? destination.bytes : asIPv6(destination.bytes), at + size);
    out.writeUInt16BE(source.port, at + 2 * size);
    out.writeUInt16BE(destination.port, at + 2 * size + 2);
    at += addressLength;
  }
  for (const tlv of tlvs) {
    out.set(tlv, at);
    at += tlv.length;
  }
  if (checksum) {
    out[at] = PP2_TYPE.CRC32C;
    out.writeUInt16BE(4, at + 1);
    out.writeUInt32BE(0, at + 3);
    out.writeUInt32BE(crc32c(out), at + 3);
  }
  return out;
}

/**
 * What a PP2_TYPE_SSL TLV says, as the parser reports it (ProxySslInfo) less what follows from
 * the rest (`client`, the bit field; `verified`); every field optional. Defaults: `tls` true,
 * the certificate flags false, `verifyResult` 0.
 */
export type ProxySslInit = Partial<Omit<ProxySslInfo, 'client' | 'verified' | 'clientCertificate'>> & {
  /** The client certificate, DER. */
  clientCertificate?: Uint8Array;
};

/** Sub-TLV types of the string fields, in the order they are written. */
const SSL_STRING_FIELDS = [
  ['version', PP2_SUBTYPE_SSL.VERSION],
  ['commonName', PP2_SUBTYPE_SSL.CN],
  ['cipher', PP2_SUBTYPE_SSL.CIPHER],
  ['signatureAlgorithm', PP2_SUBTYPE_SSL.SIG_ALG],
  ['keyAlgorithm', PP2_SUBTYPE_SSL.KEY_ALG],
  ['group', PP2_SUBTYPE_SSL.GROUP],
  ['signatureScheme', PP2_SUBTYPE_SSL.SIG_SCHEME],
] as const;

const SSL_OPTION_NAMES = Object.keys({
  tls: true,
  certificateInConnection: true,
  certificateInSession: true,
  verifyResult: true,
  version: true,
  commonName: true,
  cipher: true,
  signatureAlgorithm: true,
  keyAlgorithm: true,
  group: true,
  signatureScheme: true,
  clientCertificate: true,
} satisfies Record<keyof ProxySslInit, true>);

/**
 * A PP2_TYPE_SSL TLV for `encodeProxyHeader`'s `tlvs`.
 * @throws InvalidOptionError naming a field of the wrong type
 */
export function encodeSslTlv(ssl: ProxySslInit): ProxyTlvInit {
  requireOptionsObject('ssl', ssl);
  rejectUnknownOptions(ssl, SSL_OPTION_NAMES, 'ssl.');
  const flags: [keyof ProxySslInit, number, boolean][] = [
    ['tls', PP2_CLIENT.SSL, true],
    ['certificateInConnection', PP2_CLIENT.CERT_CONN, false],
    ['certificateInSession', PP2_CLIENT.CERT_SESS, false],
  ];
  let client = 0;
  for (const [key, bit, fallback] of flags) {
    const on = ssl[key] ?? fallback;
    requireBoolean(`ssl.${key}`, on);
    if (on) client |= bit;
  }
  const verifyResult = ssl.verifyResult ?? 0;
  requireInteger('ssl.verifyResult', verifyResult, 0, 0xffffffff);
  const parts: Buffer[] = [Buffer.of(client, verifyResult >>> 24, (verifyResult >>> 16) & 0xff, (verifyResult >>> 8) & 0xff, verifyResult & 0xff)];
  const sub = (type: number, value: Uint8Array) => {
    if (value.length > 0xffff) throw new InvalidOptionError('ssl', `a field of ${value.length} bytes does not fit a TLV (65535 at most)`);
    const header = Buffer.of(type, value.length >>> 8, value.length & 0xff);
    parts.push(header, Buffer.from(value.buffer, value.byteOffset, value.length));
  };
  for (const [key, type] of SSL_STRING_FIELDS) {
    const value = ssl[key];
    if (value === undefined) continue;
    if (typeof value !== 'string') throw new InvalidOptionError(`ssl.${key}`, `must be a string, got ${describeValue(value)}`);
    sub(type, Buffer.from(value, key === 'commonName' ? 'utf8' : 'latin1'));
  }
  if (ssl.clientCertificate !== undefined) {
    if (!(ssl.clientCertificate instanceof Uint8Array)) throw new InvalidOptionError('ssl.clientCertificate', `must be bytes, got ${describeValue(ssl.clientCertificate)}`);
    sub(PP2_SUBTYPE_SSL.CLIENT_CERT, ssl.clientCertificate);
  }
  return { type: PP2_TYPE.SSL, value: Buffer.concat(parts) };
}
