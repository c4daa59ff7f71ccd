/**
 * A strict parser of PROXY protocol headers, versions 1 and 2 (HAProxy's proxy-protocol.txt),
 * told apart by their first bytes.
 *
 * It is stateless: give it every byte received so far and it says `incomplete`, `done` (with
 * where the application's bytes start) or `invalid`. A verdict never depends on where the
 * bytes were cut: a prefix of a valid header is `incomplete`, and a prefix found `invalid`
 * stays invalid, for the same reason, whatever follows (the first offending byte decides), so
 * a connection is refused as early as its bytes allow. Re-reading a prefix costs little: a
 * version 1 line is at most 107 bytes, and a version 2 header is looked at only once its
 * 16-byte fixed part and then all its bytes are there.
 */
import { isUtf8 } from 'node:buffer';
import { ProxyProtocolError, type ProxyProtocolReason } from '../core/errors.js';
import { requireInteger } from '../core/option-checks.js';
import { formatIPv4, formatIPv6, parseIPv4, parseIPv6Into } from '../core/ip-address.js';
import { crc32c } from './crc32c.js';
import {
  DEFAULT_MAX_PROXY_HEADER_BYTES,
  MIN_MAX_PROXY_HEADER_BYTES,
  PP2_CLIENT,
  PP2_SUBTYPE_SSL,
  PP2_TYPE,
  PROXY_V1_MAX_BYTES,
  PROXY_V1_PREFIX,
  PROXY_V2_FIXED_BYTES,
  PROXY_V2_MAX_BYTES,
  PROXY_V2_SIGNATURE,
  type ProxyEndpoint,
  type ProxyFamily,
  type ProxyHeader,
  type ProxyParseResult,
  type ProxySslInfo,
  type ProxyTlv,
  type ProxyTlvs,
} from './proxy-header.js';

/**
 * What the first bytes say: `v1` (`PROXY `) or `v2` (the 12-byte signature) when a header
 * starts here, `none` when these bytes cannot begin one, `incomplete` while they are a prefix
 * of either (an empty buffer included).
 */
export type ProxyHeaderDetection = 'v1' | 'v2' | 'none' | 'incomplete';

export interface ProxyParseOptions {
  /**
   * The longest version 2 header accepted, TLVs included (version 1 lines are bounded by the
   * specification's 107 bytes). Default 16384; from 232 to 65551.
   */
  maxHeaderBytes?: number;
}

const INCOMPLETE: ProxyParseResult = Object.freeze({ status: 'incomplete' });

/** Version 1 headers carry no TLVs: one shared, frozen empty set. */
const NO_TLVS: ProxyTlvs = Object.freeze({ checksummed: false, raw: Object.freeze([]) as readonly ProxyTlv[] });

/** Decides whether a header starts in `bytes`, from as few bytes as that takes. */
export function detectProxyHeader(bytes: Uint8Array): ProxyHeaderDetection {
  const first = bytes[0];
  if (first === undefined) return 'incomplete';
  const expected = first === PROXY_V1_PREFIX[0] ? PROXY_V1_PREFIX : first === PROXY_V2_SIGNATURE[0] ? PROXY_V2_SIGNATURE : undefined;
  if (expected === undefined) return 'none';
  const compared = Math.min(bytes.length, expected.length);
  for (let i = 1; i < compared; i++) if (bytes[i] !== expected[i]) return 'none';
  if (bytes.length < expected.length) return 'incomplete';
  return expected === PROXY_V1_PREFIX ? 'v1' : 'v2';
}

/**
 * Parses the PROXY header at the start of `bytes` (everything received so far). Bytes after the
 * header are left alone: they start at `consumed`. Never throws for any input.
 * @throws InvalidOptionError for a bad `maxHeaderBytes`, the one thing it throws for
 */
export function parseProxyHeader(bytes: Buffer, options?: ProxyParseOptions): ProxyParseResult {
  const maxHeaderBytes = options?.maxHeaderBytes ?? DEFAULT_MAX_PROXY_HEADER_BYTES;
  if (options?.maxHeaderBytes !== undefined) checkMaxHeaderBytes(maxHeaderBytes);
  switch (detectProxyHeader(bytes)) {
    case 'v1':
      return parseV1(bytes);
    case 'v2':
      return parseV2(bytes, maxHeaderBytes);
    case 'incomplete':
      return INCOMPLETE;
    case 'none':
      return invalid('not-proxy', `the connection starts with ${quote(bytes, 0, 16)}, neither "PROXY " nor the version 2 signature`);
  }
}

/** @throws InvalidOptionError unless `value` can bound a header */
export function checkMaxHeaderBytes(value: unknown, name = 'maxHeaderBytes'): asserts value is number {
  requireInteger(name, value, MIN_MAX_PROXY_HEADER_BYTES, PROXY_V2_MAX_BYTES);
}

function invalid(reason: ProxyProtocolReason, detail: string, version?: 1 | 2): ProxyParseResult {
  return { status: 'invalid', error: new ProxyProtocolError(reason, detail, version) };
}

/** Peer bytes for an error message: escaped, and cut short so a message stays a line. */
function quote(bytes: Uint8Array, from: number, to: number): string {
  const end = Math.min(to, bytes.length);
  const text = Buffer.from(bytes.buffer, bytes.byteOffset + from, Math.max(0, end - from)).toString('latin1');
  return JSON.stringify(text) + (bytes.length > end ? '...' : '');
}

function quoteText(text: string): string {
  return JSON.stringify(text.length > 48 ? `${text.slice(0, 48)}...` : text);
}

// --- Version 1 ------------------------------------------------------------------------------

const CR = 0x0d;
const LF = 0x0a;
const SPACE = 0x20;

/** Which characters each version 1 protocol allows on its line (CR and LF aside). */
const V1_TCP4 = 1;
const V1_TCP6 = 2;
const V1_UNKNOWN = 4;
const V1_CHARACTERS = (() => {
  const table = new Uint8Array(256);
  for (let c = 0x20; c < 0x7f; c++) table[c] = V1_UNKNOWN; // printable US-ASCII
  for (const c of ' .0123456789') table[c.charCodeAt(0)]! |= V1_TCP4 | V1_TCP6;
  for (const c of ':abcdefABCDEF') table[c.charCodeAt(0)]! |= V1_TCP6;
  return table;
})();

const V1_PROTOCOLS = [
  { token: Buffer.from('TCP4 ', 'latin1'), family: 'tcp4', characters: V1_TCP4 },
  { token: Buffer.from('TCP6 ', 'latin1'), family: 'tcp6', characters: V1_TCP6 },
  { token: Buffer.from('UNKNOWN', 'latin1'), family: 'unspec', characters: V1_UNKNOWN },
] as const;

type V1Protocol = (typeof V1_PROTOCOLS)[number];

/** Scratch space for one IPv6 address: parsing is synchronous, so one per thread serves all. */
const ADDRESS_BYTES = new Uint8Array(16);

function parseV1(bytes: Buffer): ProxyParseResult {
  const start = PROXY_V1_PREFIX.length;
  let protocol: V1Protocol | undefined;
  let undecided = false;
  for (const candidate of V1_PROTOCOLS) {
    const compared = Math.min(candidate.token.length, bytes.length - start);
    let matches = true;
    for (let i = 0; i < compared && matches; i++) matches = bytes[start + i] === candidate.token[i];
    if (!matches) continue;
    if (compared < candidate.token.length) undecided = true;
    else protocol = candidate;
  }
  if (protocol === undefined) {
    if (undecided) return INCOMPLETE;
    return invalid('malformed', `unknown protocol ${quote(bytes, start, start + 8)} (expected TCP4, TCP6 or UNKNOWN)`, 1);
  }
  const fieldsStart = start + protocol.token.length;
  if (protocol.family === 'unspec' && bytes.length > fieldsStart && bytes[fieldsStart] !== SPACE && bytes[fieldsStart] !== CR) {
    return invalid('malformed', `unknown protocol ${quote(bytes, start, start + 8)} (expected TCP4, TCP6 or UNKNOWN)`, 1);
  }
  // Find the CRLF, refusing at the first byte the protocol does not allow on its line.
  let lineEnd = -1;
  for (let i = fieldsStart; i < bytes.length; i++) {
    if (i >= PROXY_V1_MAX_BYTES - 1) return invalid('too-long', `no CRLF in the first ${PROXY_V1_MAX_BYTES} bytes`, 1);
    const c = bytes[i]!;
    if (c === CR) {
      if (i + 1 === bytes.length) return INCOMPLETE;
      if (bytes[i + 1] !== LF) return invalid('malformed', `CR without LF at byte ${i}`, 1);
      lineEnd = i;
      break;
    }
    if (c === LF) return invalid('malformed', `LF without CR at byte ${i}`, 1);
    if ((V1_CHARACTERS[c]! & protocol.characters) === 0) {
      return invalid('malformed', `byte 0x${c.toString(16).padStart(2, '0')} at ${i} is not allowed in a ${protocol.token.toString('latin1').trim()} line`, 1);
    }
  }
  if (lineEnd < 0) return INCOMPLETE;
  const consumed = lineEnd + 2;
  if (protocol.family === 'unspec') {
    // UNKNOWN: whatever follows it on the line is to be ignored.
    return { status: 'done', header: { version: 1, command: 'proxy', family: 'unspec', tlvs: NO_TLVS }, consumed };
  }
  return parseV1Fields(bytes.toString('latin1', fieldsStart, lineEnd), protocol.family, consumed);
}

/** `SOURCE DESTINATION SRCPORT DSTPORT`, separated by single spaces. */
function parseV1Fields(line: string, family: 'tcp4' | 'tcp6', consumed: number): ProxyParseResult {
  const s1 = line.indexOf(' ');
  const s2 = s1 < 0 ? -1 : line.indexOf(' ', s1 + 1);
  const s3 = s2 < 0 ? -1 : line.indexOf(' ', s2 + 1);
  if (s3 < 0 || line.indexOf(' ', s3 + 1) >= 0) {
    return invalid('malformed', `expected source and destination addresses and ports separated by single spaces, got ${quoteText(line)}`, 1);
  }
  if (s1 === 0 || s2 === s1 + 1 || s3 === s2 + 1 || s3 === line.length - 1) {
    return invalid('malformed', `empty field (fields are separated by single spaces) in ${quoteText(line)}`, 1);
  }
  const source = v1Address(line, 0, s1, family);
  if (source === undefined) return invalid('bad-address', `source address ${quoteText(line.slice(0, s1))} is not ${family === 'tcp4' ? 'an IPv4' : 'an IPv6'} address`, 1);
  const destination = v1Address(line, s1 + 1, s2, family);
  if (destination === undefined) return invalid('bad-address', `destination address ${quoteText(line.slice(s1 + 1, s2))} is not ${family === 'tcp4' ? 'an IPv4' : 'an IPv6'} address`, 1);
  const sourcePort = v1Port(line, s2 + 1, s3);
  if (sourcePort < 0) return invalid('bad-address', `source port ${quoteText(line.slice(s2 + 1, s3))} is not a port (0 to 65535, no leading zeros)`, 1);
  const destinationPort = v1Port(line, s3 + 1, line.length);
  if (destinationPort < 0) return invalid('bad-address', `destination port ${quoteText(line.slice(s3 + 1))} is not a port (0 to 65535, no leading zeros)`, 1);
  return {
    status: 'done',
    header: {
      version: 1,
      command: 'proxy',
      family,
      source: { address: source, port: sourcePort },
      destination: { address: destination, port: destinationPort },
      tlvs: NO_TLVS,
    },
    consumed,
  };
}

/** The address in `line[from..to]` as Node.js would write it, or undefined. */
function v1Address(line: string, from: number, to: number, family: 'tcp4' | 'tcp6'): string | undefined {
  if (family === 'tcp4') return parseIPv4(line, from, to) < 0 ? undefined : line.slice(from, to);
  return parseIPv6Into(line, ADDRESS_BYTES, 0, from, to) ? formatIPv6(ADDRESS_BYTES) : undefined;
}

/** A decimal port from 0 to 65535 without leading zeros, or -1. */
function v1Port(line: string, from: number, to: number): number {
  const digits = to - from;
  if (digits < 1 || digits > 5 || (digits > 1 && line.charCodeAt(from) === 0x30)) return -1;
  let port = 0;
  for (let i = from; i < to; i++) {
    const digit = line.charCodeAt(i) - 0x30;
    if (digit < 0 || digit > 9) return -1;
    port = port * 10 + digit;
  }
  return port <= 0xffff ? port : -1;
}

// --- Version 2 ------------------------------------------------------------------------------

/** The address block each valid family-and-protocol byte needs. */
function v2Family(byte: number): { family: ProxyFamily; addressBytes: number } | undefined {
  switch (byte) {
    case 0x00:
      return V2_UNSPEC;
    case 0x11:
      return V2_TCP4;
    case 0x12:
      return V2_UDP4;
    case 0x21:
      return V2_TCP6;
    case 0x22:
      return V2_UDP6;
    case 0x31:
      return V2_UNIX_STREAM;
    case 0x32:
      return V2_UNIX_DGRAM;
    default:
      return undefined;
  }
}
const V2_UNSPEC = { family: 'unspec', addressBytes: 0 } as const;
const V2_TCP4 = { family: 'tcp4', addressBytes: 12 } as const;
const V2_UDP4 = { family: 'udp4', addressBytes: 12 } as const;
const V2_TCP6 = { family: 'tcp6', addressBytes: 36 } as const;
const V2_UDP6 = { family: 'udp6', addressBytes: 36 } as const;
const V2_UNIX_STREAM = { family: 'unix-stream', addressBytes: 216 } as const;
const V2_UNIX_DGRAM = { family: 'unix-dgram', addressBytes: 216 } as const;

const FAMILY_NAMES: Readonly<Record<ProxyFamily, string>> = {
  unspec: 'UNSPEC',
  tcp4: 'TCP over IPv4',
  udp4: 'UDP over IPv4',
  tcp6: 'TCP over IPv6',
  udp6: 'UDP over IPv6',
  'unix-stream': 'UNIX stream',
  'unix-dgram': 'UNIX datagram',
};

function parseV2(bytes: Buffer, maxHeaderBytes: number): ProxyParseResult {
  const n = bytes.length;
  if (n < 13) return INCOMPLETE;
  const versionAndCommand = bytes[12]!;
  if (versionAndCommand >>> 4 !== 2) return invalid('unsupported-version', `version ${versionAndCommand >>> 4} after the version 2 signature (only 2 is defined)`, 2);
  const commandBits = versionAndCommand & 0x0f;
  if (commandBits > 1) return invalid('unsupported-command', `command ${commandBits} (only LOCAL, 0, and PROXY, 1, are defined)`, 2);
  if (n < 14) return INCOMPLETE;
  const familyByte = bytes[13]!;
  const layout = v2Family(familyByte);
  if (layout === undefined) return invalid('bad-family', `family and protocol byte 0x${familyByte.toString(16).padStart(2, '0')} is none the specification defines`, 2);
  if (n < PROXY_V2_FIXED_BYTES) return INCOMPLETE;
  const length = (bytes[14]! << 8) | bytes[15]!;
  const total = PROXY_V2_FIXED_BYTES + length;
  if (total > maxHeaderBytes) return invalid('too-long', `header of ${total} bytes exceeds the limit of ${maxHeaderBytes}`, 2);
  if (n < total) return INCOMPLETE;
  if (length < layout.addressBytes) {
    return invalid('bad-address', `address block of ${length} bytes is shorter than the ${layout.addressBytes} bytes ${FAMILY_NAMES[layout.family]} needs`, 2);
  }
  const command = commandBits === 1 ? 'proxy' : 'local';
  const tlvsStart = PROXY_V2_FIXED_BYTES + layout.addressBytes;
  const tlvs = tlvsStart === total ? NO_TLVS : parseTlvs(bytes, tlvsStart, total);
  if (tlvs instanceof ProxyProtocolError) return { status: 'invalid', error: tlvs };
  // LOCAL: the proxy speaks for itself, and the address block is to be ignored.
  const header: ProxyHeader =
    command === 'proxy' && layout.addressBytes > 0
      ? {
          version: 2,
          command,
          family: layout.family,
          source: v2Endpoint(bytes, layout.addressBytes, 0),
          destination: v2Endpoint(bytes, layout.addressBytes, 1),
          tlvs,
        }
      : { version: 2, command, family: layout.family, tlvs };
  return { status: 'done', header, consumed: total };
}

/** The source (`which` 0) or destination (1) of a version 2 address block. */
function v2Endpoint(bytes: Buffer, addressBytes: number, which: 0 | 1): ProxyEndpoint {
  const at = PROXY_V2_FIXED_BYTES;
  switch (addressBytes) {
    case 12:
      return { address: formatIPv4(bytes, at + which * 4), port: (bytes[at + 8 + which * 2]! << 8) | bytes[at + 9 + which * 2]! };
    case 36:
      return { address: formatIPv6(bytes, at + which * 16), port: (bytes[at + 32 + which * 2]! << 8) | bytes[at + 33 + which * 2]! };
    default:
      return { address: unixPath(bytes, at + which * 108, at + (which + 1) * 108), port: 0 };
  }
}

/**
 * A 108-byte sun_path: the path up to its first NUL; an abstract socket (a NUL first) as `@`
 * and its name without the zero padding after it.
 */
function unixPath(bytes: Buffer, from: number, to: number): string {
  if (bytes[from] !== 0) {
    const nul = bytes.indexOf(0, from);
    return bytes.toString('utf8', from, nul < 0 || nul > to ? to : nul);
  }
  let end = to;
  while (end > from + 1 && bytes[end - 1] === 0) end--;
  return end === from + 1 ? '' : `@${bytes.toString('utf8', from + 1, end)}`;
}

/** Types of which one TLV at most may be sent, each with a bit for "seen". */
const SINGLE_TLVS: Readonly<Record<number, number>> = {
  [PP2_TYPE.ALPN]: 1,
  [PP2_TYPE.AUTHORITY]: 2,
  [PP2_TYPE.CRC32C]: 4,
  [PP2_TYPE.UNIQUE_ID]: 8,
  [PP2_TYPE.SSL]: 16,
  [PP2_TYPE.NETNS]: 32,
};

const UNIQUE_ID_MAX_BYTES = 128;
const CRC32C_ZERO = new Uint8Array(4);

function tlvName(type: number): string {
  return `TLV 0x${type.toString(16).padStart(2, '0')}`;
}

function badTlv(detail: string): ProxyProtocolError {
  return new ProxyProtocolError('bad-tlv', detail, 2);
}

/**
 * The TLVs in `bytes[from..to]` (the header is `bytes[0..to]`). Values are views of one copy of
 * the TLV bytes, so they outlive the caller's buffer without keeping it alive.
 */
function parseTlvs(bytes: Buffer, from: number, to: number): ProxyTlvs | ProxyProtocolError {
  const region = Buffer.from(bytes.subarray(from, to));
  const raw: ProxyTlv[] = [];
  const tlvs: ProxyTlvs = { checksummed: false, raw };
  let seen = 0;
  let checksumAt = -1;
  let at = 0;
  while (at < region.length) {
    if (region.length - at < 3) return badTlv(`${region.length - at} bytes left after the last TLV, fewer than a TLV's 3-byte type and length`);
    const type = region[at]!;
    const length = (region[at + 1]! << 8) | region[at + 2]!;
    const valueStart = at + 3;
    const valueEnd = valueStart + length;
    if (valueEnd > region.length) return badTlv(`${tlvName(type)} of ${length} bytes runs ${valueEnd - region.length} bytes past the header`);
    const bit = SINGLE_TLVS[type];
    if (bit !== undefined) {
      if ((seen & bit) !== 0) return badTlv(`${tlvName(type)} appears twice`);
      seen |= bit;
    }
    const value = region.subarray(valueStart, valueEnd);
    raw.push({ type, value });
    switch (type) {
      case PP2_TYPE.ALPN:
        tlvs.alpn = value.toString('latin1');
        break;
      case PP2_TYPE.AUTHORITY:
        if (!isUtf8(value)) return badTlv('the authority (TLV 0x02) is not UTF-8');
        tlvs.authority = value.toString('utf8');
        break;
      case PP2_TYPE.CRC32C:
        if (length !== 4) return badTlv(`the CRC32C TLV has ${length} bytes instead of 4`);
        checksumAt = from + valueStart;
        break;
      case PP2_TYPE.UNIQUE_ID:
        if (length > UNIQUE_ID_MAX_BYTES) return badTlv(`the unique id (TLV 0x05) has ${length} bytes, more than ${UNIQUE_ID_MAX_BYTES}`);
        tlvs.uniqueId = value;
        break;
      case PP2_TYPE.NETNS:
        tlvs.netns = value.toString('latin1');
        break;
      case PP2_TYPE.SSL: {
        const ssl = parseSsl(value);
        if (ssl instanceof ProxyProtocolError) return ssl;
        tlvs.ssl = ssl;
        break;
      }
      default:
        break; // NOOP, and types this parser does not decode: in `raw` only
    }
    at = valueEnd;
  }
  if (checksumAt >= 0) {
    const sent = bytes.readUInt32BE(checksumAt);
    // The checksum covers the whole header with its own field zeroed.
    let computed = crc32c(bytes, 0, checksumAt);
    computed = crc32c(CRC32C_ZERO, 0, 4, computed);
    computed = crc32c(bytes, checksumAt + 4, to, computed);
    if (computed !== sent) return new ProxyProtocolError('checksum', `CRC32C 0x${sent.toString(16).padStart(8, '0')} sent, 0x${computed.toString(16).padStart(8, '0')} computed`, 2);
    tlvs.checksummed = true;
  }
  return tlvs;
}

/** PP2_TYPE_SSL: a client byte, a 32-bit verify result, then sub-TLVs. */
function parseSsl(value: Buffer): ProxySslInfo | ProxyProtocolError {
  if (value.length < 5) return badTlv(`the SSL TLV (0x20) has ${value.length} bytes, fewer than its 5-byte client and verify fields`);
  const client = value[0]!;
  const verifyResult = value.readUInt32BE(1);
  const certificateInConnection = (client & PP2_CLIENT.CERT_CONN) !== 0;
  const certificateInSession = (client & PP2_CLIENT.CERT_SESS) !== 0;
  const ssl: ProxySslInfo = {
    client,
    tls: (client & PP2_CLIENT.SSL) !== 0,
    certificateInConnection,
    certificateInSession,
    verifyResult,
    verified: verifyResult === 0 && (certificateInConnection || certificateInSession),
  };
  let seen = 0;
  let at = 5;
  while (at < value.length) {
    if (value.length - at < 3) return badTlv(`${value.length - at} bytes left after the last SSL sub-TLV, fewer than its 3-byte type and length`);
    const type = value[at]!;
    const length = (value[at + 1]! << 8) | value[at + 2]!;
    const end = at + 3 + length;
    if (end > value.length) return badTlv(`SSL sub-${tlvName(type)} of ${length} bytes runs ${end - value.length} bytes past the SSL TLV`);
    if (type >= PP2_SUBTYPE_SSL.VERSION && type <= PP2_SUBTYPE_SSL.CLIENT_CERT) {
      const bit = 1 << (type - PP2_SUBTYPE_SSL.VERSION);
      if ((seen & bit) !== 0) return badTlv(`SSL sub-${tlvName(type)} appears twice`);
      seen |= bit;
    }
    switch (type) {
      case PP2_SUBTYPE_SSL.VERSION:
        ssl.version = value.toString('latin1', at + 3, end);
        break;
      case PP2_SUBTYPE_SSL.CN: {
        const name = value.subarray(at + 3, end);
        if (!isUtf8(name)) return badTlv('the SSL common name (sub-TLV 0x22) is not UTF-8');
        ssl.commonName = name.toString('utf8');
        break;
      }
      case PP2_SUBTYPE_SSL.CIPHER:
        ssl.cipher = value.toString('latin1', at + 3, end);
        break;
      case PP2_SUBTYPE_SSL.SIG_ALG:
        ssl.signatureAlgorithm = value.toString('latin1', at + 3, end);
        break;
      case PP2_SUBTYPE_SSL.KEY_ALG:
        ssl.keyAlgorithm = value.toString('latin1', at + 3, end);
        break;
      case PP2_SUBTYPE_SSL.GROUP:
        ssl.group = value.toString('latin1', at + 3, end);
        break;
      case PP2_SUBTYPE_SSL.SIG_SCHEME:
        ssl.signatureScheme = value.toString('latin1', at + 3, end);
        break;
      case PP2_SUBTYPE_SSL.CLIENT_CERT:
        ssl.clientCertificate = value.subarray(at + 3, end);
        break;
      default:
        break;
    }
    at = end;
  }
  return ssl;
}
