/**
 * What only the admission tests need: clients from chosen loopback addresses (all of
 * 127.0.0.0/8 reaches a server on 127.0.0.1, so every test has addresses of its own), whether
 * the server served or refused each, and the reactor modes. No tests here and no side effects
 * on import: `node --test build/test/` also loads every module under a test directory.
 */
import net from 'node:net';
import { REUSE_PORT_SUPPORT, supportsReusePort, type ReactorMode } from '../../src/index.js';
import { expectedReply, SeedClient } from '../helpers/seed-client.js';

/** The n-th address of 127.<block>.0.0/16 (n from 0 to 65,279, avoiding .0 and .255 host bytes). */
export function loopback(block: number, n: number): string {
  return `127.${block}.${1 + Math.floor(n / 254)}.${1 + (n % 254)}`;
}

/** What became of one connection attempt, as the client saw it. */
export type Attempt = { served: true; client: SeedClient; localPort: number } | { served: false; localPort: number; code: string };

/**
 * Connects from `localAddress` and asks for one echo: `served` (the client stays open, its
 * caller closes it) or refused (the server reset it before answering; `code` is the client's
 * error, ECONNRESET or the like).
 */
export async function attempt(port: number, localAddress: string, message = `hello from ${localAddress}`): Promise<Attempt> {
  let client: SeedClient;
  try {
    client = await SeedClient.connect(port, '127.0.0.1', { localAddress });
  } catch (err) {
    return { served: false, localPort: -1, code: (err as NodeJS.ErrnoException).code ?? String(err) };
  }
  const localPort = client.socket.localPort ?? -1;
  try {
    const reply = await client.request(message);
    if (!reply.equals(expectedReply(message))) throw new Error(`wrong reply ${JSON.stringify(reply.toString('latin1'))}`);
    return { served: true, client, localPort };
  } catch (err) {
    client.destroy();
    await client.closed;
    const code = (client.socket.errored as NodeJS.ErrnoException | null)?.code ?? (err as NodeJS.ErrnoException).code ?? 'closed';
    return { served: false, localPort, code };
  }
}

/** `attempt`, asserting it was served; returns the open client. */
export async function served(port: number, localAddress: string): Promise<SeedClient> {
  const result = await attempt(port, localAddress);
  if (!result.served) throw new Error(`a connection from ${localAddress} was refused (${result.code})`);
  return result.client;
}

/** `attempt`, asserting it was refused. */
export async function refused(port: number, localAddress: string): Promise<void> {
  const result = await attempt(port, localAddress);
  if (result.served) {
    result.client.destroy();
    throw new Error(`a connection from ${localAddress} was served`);
  }
}

/** Closes every client and waits for each socket to close. */
export async function closeAll(clients: readonly SeedClient[]): Promise<void> {
  for (const client of clients) client.destroy();
  await Promise.all(clients.map((client) => client.closed));
}

/**
 * Connects from `localAddress` and resets the connection the moment it is up. A server that
 * refuses may reset first, before this client's connect is reported (the connect then fails
 * with ECONNRESET); either way the connection is gone when this resolves.
 */
export async function connectAndReset(port: number, localAddress: string): Promise<void> {
  const socket = net.connect({ port, host: '127.0.0.1', localAddress });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => {
      socket.resetAndDestroy();
      resolve();
    });
    socket.once('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' ? resolve() : reject(err)));
  });
}

export const THREADS_SKIP = `needs SO_REUSEPORT (${REUSE_PORT_SUPPORT})`;

/** The reactor modes, each with the skip reason when this runtime cannot run it (reported as a skip, never a pass). */
export const MODES: readonly { mode: ReactorMode; skip: string | false }[] = [
  { mode: 'processes', skip: false },
  { mode: 'threads', skip: supportsReusePort() ? false : THREADS_SKIP },
];
