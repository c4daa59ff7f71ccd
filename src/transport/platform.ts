import { readFileSync } from 'node:fs';
/** What the running runtime (Node.js or Bun) can do, for options that depend on it. */

/**
 * Where `listen({ reusePort })` (SO_REUSEPORT with kernel load balancing) works, in the words
 * every help text, error message and document uses: Node.js has it from 22.12 on the 22 line
 * and from 23.1 on, and it only does something on Linux and FreeBSD; Bun's node:net has it on
 * Linux (Bun imitates a recent Node.js version, so its own name is what tells). A unit test
 * holds this to what the runtime does: two listeners on one port, both given connections.
 */
export const REUSE_PORT_SUPPORT = 'Linux or FreeBSD with Node.js 22.12+ on 22.x or 23.1+, Linux with Bun';

/** True where `listen({ reusePort })` works: see {@link REUSE_PORT_SUPPORT}. `bunVersion` null: not Bun. */
export function supportsReusePort(version = process.versions.node, platform = process.platform, bunVersion: string | null = process.versions.bun ?? null): boolean {
  if (bunVersion !== null) return platform === 'linux';
  if (platform !== 'linux' && platform !== 'freebsd') return false;
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
}

/** The runtime in a message: `Node.js v24.1.0`, `Bun 1.3.0` (whose process.version is the Node.js it imitates). */
export function runtimeDescription(): string {
  return process.versions.bun === undefined ? `Node.js ${process.version}` : `Bun ${process.versions.bun}`;
}

/**
 * Whether the kernel moves the connections queued on a closing SO_REUSEPORT listener to
 * another listener of the same port (Linux >= 5.14 with `net.ipv4.tcp_migrate_req = 1`)
 * rather than resetting them: what lets a threads-mode group replace its reactors without a
 * refused connection. False where it is off or unknown.
 */
export function migratesQueuedConnections(readSetting: () => string = () => readFileSync('/proc/sys/net/ipv4/tcp_migrate_req', 'utf8')): boolean {
  try {
    return readSetting().trim() === '1';
  } catch {
    return false;
  }
}
