/**
 * What only the operations tests need: a port nothing listens on. The CLI in a child process,
 * its log lines, metrics scraping and waiting are shared, in test/helpers/. No tests here and
 * no side effects on import: `node --test build/test/` also loads this module.
 */
import { once } from 'node:events';
import net from 'node:net';

/** A port nothing listens on: bound, then released. */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
