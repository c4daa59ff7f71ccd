/**
 * A socket error whose message names its cause as node:net's do (`listen EADDRINUSE: address
 * already in use HOST:PORT`). Bun's own sockets and its node:http say less ("Failed to
 * listen at HOST", "Failed to connect", "Failed to start server. Is port N in use?"): the code
 * is on the error, not in its message. Such an error is rewritten, keeping its code and the
 * original as its cause; any other is passed on as it is.
 */
import { formatHostPort } from '../core/host-port.js';

const WORDS: Readonly<Record<string, string>> = {
  EADDRINUSE: 'address already in use',
  EADDRNOTAVAIL: 'address not available',
  EACCES: 'permission denied',
  ECONNREFUSED: 'connection refused',
  ETIMEDOUT: 'timed out',
};

export function namedSocketError(err: unknown, syscall: 'listen' | 'connect', host: string, port: number): unknown {
  if (!(err instanceof Error)) return err;
  const code = (err as NodeJS.ErrnoException).code ?? (syscall === 'listen' && /\bin use\b/i.test(err.message) ? 'EADDRINUSE' : undefined);
  if (code === undefined || err.message.includes(code)) return err;
  const words = WORDS[code];
  const named = new Error(`${syscall} ${code}: ${words === undefined ? '' : `${words} `}${formatHostPort(host, port)} (${err.message})`, { cause: err });
  return Object.assign(named, { code, errno: (err as NodeJS.ErrnoException).errno, syscall, address: host, port });
}
