/** What the running Node.js can do, for options that depend on it. */

/**
 * `listen({ reusePort })` (SO_REUSEPORT with kernel load balancing) exists from Node.js
 * 22.12 / 23.1 on, and only does something on Linux and some BSDs.
 */
export function supportsReusePort(version = process.versions.node, platform = process.platform): boolean {
  if (platform !== 'linux' && platform !== 'freebsd') return false;
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
}
