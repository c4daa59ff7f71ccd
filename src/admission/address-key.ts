/**
 * An IP address as the key of per-address limits: four 32-bit words in network order, the way
 * the address table stores it. An IPv4 address and its IPv4-mapped IPv6 form (`192.0.2.1`,
 * `::ffff:192.0.2.1`) are one client to a dual-stack listener, so both give the mapped key;
 * `0:0::1` and `::1` give the same key too. A zone (`fe80::1%eth0`) is not part of the key.
 *
 * No allocation: this runs once per accepted connection.
 */
import { parseIPv4, parseIPv6Into } from '../core/ip-address.js';

/** Scratch for one parsed IPv6 address (parsing is synchronous). */
const BYTES = new Uint8Array(16);

/**
 * Writes the key of `address` into `out[0..4]`.
 * @returns false when `address` is not an IPv4 or IPv6 address (a UNIX socket's path, an
 *   empty string for a socket that closed before it was accepted): such peers are not limited
 */
export function addressKey(address: string, out: Uint32Array): boolean {
  const v4 = parseIPv4(address);
  if (v4 >= 0) {
    out[0] = 0;
    out[1] = 0;
    out[2] = 0xffff;
    out[3] = v4;
    return true;
  }
  const zone = address.indexOf('%');
  if (zone === address.length - 1) return false; // an empty zone
  if (!parseIPv6Into(address, BYTES, 0, 0, zone < 0 ? address.length : zone)) return false;
  for (let word = 0; word < 4; word++) {
    const at = word * 4;
    out[word] = ((BYTES[at]! << 24) | (BYTES[at + 1]! << 16) | (BYTES[at + 2]! << 8) | BYTES[at + 3]!) >>> 0;
  }
  return true;
}

/**
 * A 32-bit hash of a key, mixed with `seed` (random per table, so that nobody can choose
 * addresses that all land in one neighbourhood of the table).
 */
export function hashKey(key: Uint32Array, seed: number): number {
  let h = seed ^ 0x9e3779b9;
  for (let word = 0; word < 4; word++) {
    h = Math.imul(h ^ key[word]!, 0x85ebca6b);
    h ^= h >>> 13;
  }
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
