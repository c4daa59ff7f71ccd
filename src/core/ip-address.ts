/**
 * IP addresses as text and as bytes, strictly: the PROXY protocol and the CIDR lists need to
 * know exactly what an address is, and to write it the one way Node.js writes a socket's
 * address, so that the same client is the same string wherever it comes from (a limit keyed on
 * `0:0::1` and `::1` would count one client twice).
 *
 * No regular expressions and no allocation while parsing: these run once per connection.
 */

const DOT = 0x2e;
const COLON = 0x3a;

/**
 * The IPv4 address written in `text` from `from` to `to` as an unsigned 32-bit number, or -1.
 * Strict dotted-quad: exactly four decimal parts from 0 to 255, no leading zeros (`010` could
 * be read as octal), nothing else.
 */
export function parseIPv4(text: string, from = 0, to = text.length): number {
  let value = 0;
  let at = from;
  for (let part = 0; part < 4; part++) {
    if (part > 0) {
      if (at >= to || text.charCodeAt(at) !== DOT) return -1;
      at++;
    }
    const start = at;
    let octet = 0;
    while (at < to && at - start < 4) {
      const digit = text.charCodeAt(at) - 0x30;
      if (digit < 0 || digit > 9) break;
      octet = octet * 10 + digit;
      at++;
    }
    const digits = at - start;
    if (digits === 0 || digits > 3 || octet > 255 || (digits > 1 && text.charCodeAt(start) === 0x30)) return -1;
    value = value * 256 + octet;
  }
  return at === to ? value : -1;
}

/** The value of a hexadecimal digit's character code, or -1. */
function hexDigit(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  const lower = code | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}

/**
 * Reads the IPv6 address written in `text` from `from` to `to` into `out[offset..offset+16]`
 * (network order); false, with `out` in an unspecified state, if it is not one. Accepts what
 * inet_pton accepts: groups of one to four hex digits (either case), at most one `::` standing
 * for at least one zero group, and a dotted IPv4 tail (`::ffff:192.0.2.1`). No zone (`%eth0`).
 */
export function parseIPv6Into(text: string, out: Uint8Array, offset = 0, from = 0, to = text.length): boolean {
  let words = 0;
  /** Index of the word where `::` stands, or -1. */
  let gap = -1;
  let at = from;
  if (to - from < 2) return false;
  if (text.charCodeAt(at) === COLON) {
    if (text.charCodeAt(at + 1) !== COLON) return false;
    gap = 0;
    at += 2;
  }
  while (at < to) {
    if (words === 8) return false;
    const start = at;
    let value = 0;
    while (at < to && at - start < 5) {
      const digit = hexDigit(text.charCodeAt(at));
      if (digit < 0) break;
      value = value * 16 + digit;
      at++;
    }
    if (at < to && text.charCodeAt(at) === DOT) {
      // A dotted IPv4 tail: the last 32 bits, and the end of the address.
      if (words > 6) return false;
      const v4 = parseIPv4(text, start, to);
      if (v4 < 0) return false;
      out[offset + words * 2] = v4 >>> 24;
      out[offset + words * 2 + 1] = (v4 >>> 16) & 0xff;
      out[offset + words * 2 + 2] = (v4 >>> 8) & 0xff;
      out[offset + words * 2 + 3] = v4 & 0xff;
      words += 2;
      at = to;
      break;
    }
    const digits = at - start;
    if (digits === 0 || digits > 4) return false;
    out[offset + words * 2] = value >>> 8;
    out[offset + words * 2 + 1] = value & 0xff;
    words++;
    if (at === to) break;
    if (text.charCodeAt(at) !== COLON) return false;
    at++;
    if (at < to && text.charCodeAt(at) === COLON) {
      if (gap >= 0) return false;
      gap = words;
      at++;
    } else if (at === to) {
      return false; // a single trailing colon
    }
  }
  if (gap < 0) return words === 8;
  if (words > 7) return false; // `::` stands for one zero group at least
  // Move the words after the gap to the end and zero what the gap stands for.
  const tail = (words - gap) * 2;
  out.copyWithin(offset + 16 - tail, offset + gap * 2, offset + words * 2);
  out.fill(0, offset + gap * 2, offset + 16 - tail);
  return true;
}

/** `bytes[offset..offset+4]` as dotted-quad text. */
export function formatIPv4(bytes: Uint8Array, offset = 0): string {
  return `${bytes[offset]!}.${bytes[offset + 1]!}.${bytes[offset + 2]!}.${bytes[offset + 3]!}`;
}

/** An unsigned 32-bit IPv4 address as dotted-quad text. */
export function formatIPv4Number(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 0xff}.${(value >>> 8) & 0xff}.${value & 0xff}`;
}

/**
 * `bytes[offset..offset+16]` as IPv6 text, exactly as Node.js writes a socket's address (libuv's
 * inet_ntop): lower case, no leading zeros, the first longest run of two or more zero groups
 * as `::`, and an IPv4-mapped (`::ffff:192.0.2.1`) or IPv4-compatible (`::192.0.2.1`) address
 * with a dotted tail.
 */
export function formatIPv6(bytes: Uint8Array, offset = 0): string {
  let bestBase = -1;
  let bestLength = 0;
  let runBase = -1;
  for (let i = 0; i <= 8; i++) {
    const zero = i < 8 && bytes[offset + i * 2] === 0 && bytes[offset + i * 2 + 1] === 0;
    if (zero) {
      if (runBase < 0) runBase = i;
    } else if (runBase >= 0) {
      if (i - runBase > bestLength) {
        bestBase = runBase;
        bestLength = i - runBase;
      }
      runBase = -1;
    }
  }
  if (bestLength < 2) bestBase = -1;
  let text = '';
  for (let i = 0; i < 8; i++) {
    if (bestBase >= 0 && i >= bestBase && i < bestBase + bestLength) {
      if (i === bestBase) text += ':';
      continue;
    }
    if (i !== 0) text += ':';
    const word = (bytes[offset + i * 2]! << 8) | bytes[offset + i * 2 + 1]!;
    if (i === 6 && bestBase === 0 && (bestLength === 6 || (bestLength === 5 && wordIs(bytes, offset, 5, 0xffff)))) {
      return text + formatIPv4(bytes, offset + 12);
    }
    text += word.toString(16);
  }
  if (bestBase >= 0 && bestBase + bestLength === 8) text += ':';
  return text;
}

function wordIs(bytes: Uint8Array, offset: number, index: number, value: number): boolean {
  return ((bytes[offset + index * 2]! << 8) | bytes[offset + index * 2 + 1]!) === value;
}

/** True when `bytes[offset..offset+16]` is an IPv4-mapped IPv6 address (`::ffff:0:0/96`). */
export function isIPv4Mapped(bytes: Uint8Array, offset = 0): boolean {
  for (let i = 0; i < 10; i++) if (bytes[offset + i] !== 0) return false;
  return bytes[offset + 10] === 0xff && bytes[offset + 11] === 0xff;
}
