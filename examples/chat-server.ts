/**
 * A chat room built on the NetServer callbacks.
 *
 * Every message a client sends is relayed to all the OTHER clients as `[client N] ` + the
 * message bytes, untouched (any bytes, not only UTF-8). Joins and leaves are announced to the
 * others as `* client N joined` / `* client N left`; a newcomer is told `* you are client N`.
 *
 * The wire format is the server's default (seed) codec: whatever one read delivers is one
 * message, and everything the server sends is framed as a 4-byte little-endian length + body.
 *
 * Try it:
 *   npx tsc -p . && node build/examples/chat-server.js 9000
 * or on several reactors (broadcasts cross between them):
 *   node build/src/cli/main.js start --port 9000 --workers 2 --app build/examples/chat-server.js
 * then, in two or more other terminals:
 *   nc 127.0.0.1 9000
 * and type lines. nc prints each frame's 4-byte length header as a few odd bytes before the
 * text; a real client reads the length first, then that many bytes. Ctrl-C stops the server.
 */
import { pathToFileURL } from 'node:url';
import { NetServer, type NetServerOptions } from '../src/index.js';

/** Options of the chat server: any NetServer option except the callbacks, which are the chat. */
export type ChatServerOptions = Omit<NetServerOptions, 'callbacks'>;

/** Creates (does not start) a chat server. */
export function createChatServer(options: ChatServerOptions = {}): NetServer {
  const server: NetServer = new NetServer({
    ...options,
    callbacks: {
      onConnection: (conn) => {
        conn.send(`* you are client ${conn.id}`);
        server.broadcast(`* client ${conn.id} joined`, conn);
      },
      // Parts are framed as one message: no copy of the relayed bytes is made.
      onMessage: (conn, message) => void server.broadcast([`[client ${conn.id}] `, message], conn),
      // The connection has already left the registry here; on shutdown there is no one to tell.
      onClose: (conn, reason) => {
        if (reason !== 'server-stop') server.broadcast(`* client ${conn.id} left`);
      },
    },
  });
  return server;
}

/** As an application module every reactor of a group can run: `reactor-server start --workers 2 --app build/examples/chat-server.js`. */
export default createChatServer;

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const port = Number(process.argv[2] ?? 9000);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`usage: node chat-server.js [port]   (got port "${process.argv[2]}")`);
    process.exit(2);
  }
  const server = createChatServer({ port });
  const { address, port: boundPort } = await server.start();
  console.log(`chat server listening on ${address}:${boundPort}`);
  const stop = (signal: NodeJS.Signals): void => {
    console.error(`chat server: ${signal}, stopping`);
    // Once every socket is closed nothing is left to keep the process alive: it exits 0.
    void server.stop();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
