/**
 * A list of IPv4 and IPv6 ranges (`10.0.0.0/8`, `2001:db8::/32`, bare addresses), asked whether
 * it contains an address: who is a trusted proxy, who is allowed or denied.
 *
 * An IPv4 client reaching a dual-stack listener appears as `::ffff:192.0.2.1`; it is the same
 * client as `192.0.2.1`, so IPv4-mapped addresses are matched against the IPv4 ranges, and an
 * IPv4-mapped range (`::ffff:10.0.0.0/104`) is an IPv4 range (as node:net's BlockList does).
 *
 * A lookup costs one test per distinct prefix length in the list, whatever its size: the
 * ranges are kept as hash sets of network numbers by prefix length.
 */
import { InvalidOptionError } from '../core/errors.js';
import { describeValue } from '../core/option-checks.js';
import { formatIPv4Number, formatIPv6, isIPv4Mapped, parseIPv4, parseIPv6Into } from '../core/ip-address.js';

/** IPv4 prefix masks by length, as unsigned 32-bit numbers. */
const MASK4 = Array.from({ length: 33 }, (_, length) => (length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0));
/** IPv6 prefix masks by length. */
const MASK6 = Array.from({ length: 129 }, (_, length) => (length === 0 ? 0n : ((1n << BigInt(length)) - 1n) << BigInt(128 - length)));
/** `::ffff:0:0`, the IPv4-mapped range's network. */
const MAPPED_NETWORK = 0xffffn << 32n;

/** Scratch for one parsed IPv6 address (lookups are synchronous). */
const SCRATCH = new Uint8Array(16);

function bytesToBigInt(bytes: Uint8Array): bigint {
  let value = 0n;
  for (let i = 0; i < 16; i += 4) {
    value = (value << 32n) | BigInt(((bytes[i]! << 24) | (bytes[i + 1]! << 16) | (bytes[i + 2]! << 8) | bytes[i + 3]!) >>> 0);
  }
  return value;
}

function bigIntToBytes(value: bigint): Uint8Array {
  const bytes = new Uint8Array(16);
  for (let i = 15; i >= 0; i--) {
    bytes[i] = Number(value & 0xffn);
    value >>= 8n;
  }
  return bytes;
}

function mappedIPv4(bytes: Uint8Array): number {
  return ((bytes[12]! << 24) | (bytes[13]! << 16) | (bytes[14]! << 8) | bytes[15]!) >>> 0;
}

/** A decimal prefix length from 0 to `max` without leading zeros, or -1. */
function parsePrefixLength(text: string, max: number): number {
  if (text.length === 0 || text.length > 3 || (text.length > 1 && text.charCodeAt(0) === 0x30)) return -1;
  let value = 0;
  for (let i = 0; i < text.length; i++) {
    const digit = text.charCodeAt(i) - 0x30;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value <= max ? value : -1;
}

export class CidrList {
  /** IPv4 networks (and IPv4-mapped IPv6 ones) by prefix length. */
  private readonly v4 = new Map<number, Set<number>>();
  /** Other IPv6 networks by prefix length. */
  private readonly v6 = new Map<number, Set<bigint>>();
  /** The ranges as written back: networks in canonical form, each once, in the order given. */
  readonly entries: readonly string[];

  private constructor(entries: readonly string[], setting: string) {
    const written = new Set<string>();
    for (const entry of entries) written.add(this.add(entry, setting));
    this.entries = Object.freeze([...written]);
  }

  /**
   * Parses a list of ranges: a comma-separated string (spaces around entries are ignored) or
   * an array of entries. Each entry is an address (a /32 or /128 range) or `ADDRESS/LENGTH`
   * with no bits set past the prefix. An empty string or array makes an empty list.
   * @param setting the option the list comes from, named in errors (`trustedProxies`, ...)
   * @throws InvalidOptionError naming `setting` and the entry that is wrong
   */
  static parse(value: unknown, setting: string): CidrList {
    let entries: string[];
    if (typeof value === 'string') {
      entries = value.trim() === '' ? [] : value.split(',').map((entry) => entry.trim());
    } else if (Array.isArray(value) && value.every((entry) => typeof entry === 'string')) {
      entries = value.map((entry: string) => entry.trim());
    } else {
      throw new InvalidOptionError(setting, `must be a comma-separated list of addresses and CIDR ranges (or an array of them), got ${describeValue(value)}`);
    }
    return new CidrList(entries, setting);
  }

  /** The number of distinct ranges. */
  get size(): number {
    return this.entries.length;
  }

  /** The ranges, comma-separated, as `parse` takes them. */
  toString(): string {
    return this.entries.join(',');
  }

  /**
   * True when `address` (IPv4, or IPv6 with an optional `%zone`, as a socket reports it) is in
   * one of the ranges; false for anything that is not an address, undefined included.
   */
  contains(address: string | undefined): boolean {
    if (address === undefined) return false;
    const v4 = parseIPv4(address);
    if (v4 >= 0) return this.containsIPv4(v4);
    const zone = address.indexOf('%');
    if (zone === address.length - 1) return false; // an empty zone
    if (!parseIPv6Into(address, SCRATCH, 0, 0, zone < 0 ? address.length : zone)) return false;
    if (isIPv4Mapped(SCRATCH)) return this.containsIPv4(mappedIPv4(SCRATCH));
    if (this.v6.size === 0) return false;
    const value = bytesToBigInt(SCRATCH);
    for (const [length, networks] of this.v6) if (networks.has(value & MASK6[length]!)) return true;
    return false;
  }

  private containsIPv4(address: number): boolean {
    for (const [length, networks] of this.v4) if (networks.has((address & MASK4[length]!) >>> 0)) return true;
    return false;
  }

  /** Adds one entry; returns it as `entries` shows it. */
  private add(entry: string, setting: string): string {
    const slash = entry.indexOf('/');
    const addressText = slash < 0 ? entry : entry.slice(0, slash);
    const notRange = () => new InvalidOptionError(setting, `entry ${JSON.stringify(entry)} is not an IPv4 or IPv6 address or CIDR range (such as 10.0.0.0/8 or 2001:db8::/32)`);
    if (entry === '') throw new InvalidOptionError(setting, 'has an empty entry (two commas in a row, or one at an end)');
    const v4 = parseIPv4(addressText);
    if (v4 >= 0) {
      const length = slash < 0 ? 32 : parsePrefixLength(entry.slice(slash + 1), 32);
      if (length < 0) throw new InvalidOptionError(setting, `entry ${JSON.stringify(entry)}: the prefix length of an IPv4 range is a number from 0 to 32`);
      const network = (v4 & MASK4[length]!) >>> 0;
      if (network !== v4) throw hostBitsSet(setting, entry, `${formatIPv4Number(network)}/${length}`);
      this.addIPv4(network, length);
      return `${formatIPv4Number(network)}/${length}`;
    }
    const bytes = new Uint8Array(16);
    if (!parseIPv6Into(addressText, bytes)) throw notRange();
    const length = slash < 0 ? 128 : parsePrefixLength(entry.slice(slash + 1), 128);
    if (length < 0) throw new InvalidOptionError(setting, `entry ${JSON.stringify(entry)}: the prefix length of an IPv6 range is a number from 0 to 128`);
    const value = bytesToBigInt(bytes);
    const network = value & MASK6[length]!;
    const written = `${formatIPv6(bigIntToBytes(network))}/${length}`;
    if (network !== value) throw hostBitsSet(setting, entry, written);
    if (length >= 96 && isIPv4Mapped(bytes)) {
      // Within ::ffff:0:0/96: the IPv4 range it maps.
      this.addIPv4(Number(network & 0xffffffffn), length - 96);
      return written;
    }
    let set = this.v6.get(length);
    if (set === undefined) this.v6.set(length, (set = new Set()));
    set.add(network);
    // A range wider than ::ffff:0:0/96 that contains it contains every IPv4 address.
    if (length < 96 && (MAPPED_NETWORK & MASK6[length]!) === network) this.addIPv4(0, 0);
    return written;
  }

  private addIPv4(network: number, length: number): void {
    let set = this.v4.get(length);
    if (set === undefined) this.v4.set(length, (set = new Set()));
    set.add(network);
  }
}

function hostBitsSet(setting: string, entry: string, range: string): InvalidOptionError {
  return new InvalidOptionError(setting, `entry ${JSON.stringify(entry)} has address bits set past its prefix length (the range is ${range})`);
}
