/**
 * The reading and writing of IPv6 addresses the project's parser must match: libuv's
 * inet_pton and inet_ntop, as Node.js's node:net applies them. On Node.js that is node:net
 * itself; Bun's node:net is no such reference (it keeps `0:0:0:0:0:0:0:1` as written and
 * accepts `::1.2.3`), so there the same rules come from the small reader and writer below,
 * which a unit test holds to node:net on Node.js. No tests here and no side effects on import.
 */
import { SocketAddress } from 'node:net';
import { runsOnBun } from './runtime.js';

export { runsOnBun };

/** The address as libuv reads and writes it, or undefined where inet_pton refuses it. */
export function referenceIPv6(text: string): string | undefined {
  return runsOnBun ? writtenIPv6(text) : nodeIPv6(text);
}

/** Node.js's node:net reading of an IPv6 address, or undefined (the reference on Node.js only). */
export function nodeIPv6(text: string): string | undefined {
  try {
    return new SocketAddress({ address: text, family: 'ipv6' }).address;
  } catch {
    return undefined;
  }
}

/** inet_pton then inet_ntop, written out for runtimes whose node:net does not do them. */
export function writtenIPv6(text: string): string | undefined {
  const groups = readIPv6(text);
  return groups === undefined ? undefined : writeIPv6(groups);
}

const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;
const DOTTED_PART = /^(0|[1-9][0-9]{0,2})$/;

/** The eight 16-bit groups of `text`, read as inet_pton reads it, or undefined. */
export function readIPv6(text: string): number[] | undefined {
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const pieces = (half: string): string[] => (half === '' ? [] : half.split(':'));
  const head = pieces(halves[0]!);
  const tail = halves.length === 2 ? pieces(halves[1]!) : [];
  const all = halves.length === 2 ? tail : head;
  // A dotted IPv4 tail stands for the last two groups.
  const last = all.length > 0 ? all[all.length - 1]! : '';
  let ipv4: number[] = [];
  if (last.includes('.')) {
    const parts = last.split('.');
    if (parts.length !== 4 || !parts.every((part) => DOTTED_PART.test(part) && Number(part) <= 255)) return undefined;
    const [a, b, c, d] = parts.map(Number) as [number, number, number, number];
    ipv4 = [(a << 8) | b, (c << 8) | d];
    all.pop();
  }
  // (The dotted tail, if any, is off `all`, which is `tail` or, without "::", `head`.)
  if (![...head, ...tail].every((group) => HEX_GROUP.test(group))) return undefined;
  const headGroups = head.map((group) => parseInt(group, 16));
  const tailGroups = tail.map((group) => parseInt(group, 16));
  const explicit = headGroups.length + tailGroups.length + ipv4.length;
  if (halves.length === 1) return explicit === 8 ? [...headGroups, ...ipv4] : undefined;
  // "::" stands for at least one zero group.
  if (explicit > 7) return undefined;
  return [...headGroups, ...new Array<number>(8 - explicit).fill(0), ...tailGroups, ...ipv4];
}

/**
 * The groups as inet_ntop writes them: the first longest run of two or more zero groups as
 * "::", lower-case hex, and the last 32 bits dotted after six zero groups (IPv4-compatible) or
 * after five and ffff (IPv4-mapped).
 */
export function writeIPv6(groups: readonly number[]): string {
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((group) => group.toString(16));
  if (bestStart === 0 && (bestLength === 6 || (bestLength === 5 && groups[5] === 0xffff))) {
    const dotted = [groups[6]! >> 8, groups[6]! & 0xff, groups[7]! >> 8, groups[7]! & 0xff].join('.');
    return `::${bestLength === 5 ? 'ffff:' : ''}${dotted}`;
  }
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}
