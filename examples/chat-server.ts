/**
 * A chat built on the NetServer callbacks, with rooms, that runs unchanged on one reactor, on
 * several, and on several instances sharing a broker.
 *
 * Every client has an id unique across instances (`conn.globalId`, `INSTANCE:N`). A message a
 * client sends goes to all the OTHER clients as `[client ID] ` + the message bytes, untouched
 * (any bytes, not only UTF-8); from inside a room, to the other members of that room only. Joins and leaves are announced to everyone as `* client ID joined` / `* client ID left`;
 * a newcomer is told `* you are client ID`. Lines starting with `/` are commands:
 *
 *   /join ROOM      leave the room you are in (if any) and enter ROOM: `* you joined ROOM`, and
 *                   its members hear `* client ID joined ROOM`
 *   /leave          back to the lobby: `* you left ROOM`, and the room hears `* client ID left ROOM`
 *   /msg ID TEXT    only client ID hears `[client ME privately] TEXT`, on whatever instance it is
 *
 * A room is a topic (`conn.join('room:ROOM')`, `server.publish`), the lobby a broadcast, a
 * private message a `server.sendTo`: with `--broker redis://...` each reaches every instance.
 *
 * The wire format is the server's default (seed) codec: whatever one read delivers is one
 * message, and everything the server sends is framed as a 4-byte little-endian length + body.
 *
 * Try it:
 *   npx tsc -p . && node build/examples/chat-server.js 9000
 * or on several reactors (broadcasts cross between them):
 *   node build/src/cli/main.js start --port 9000 --workers 2 --app build/examples/chat-server.js
 * or as two instances sharing a Redis (docs/deploy.md puts HAProxy in front):
 *   node build/src/cli/main.js start --port 9001 --app build/examples/chat-server.js --broker redis://127.0.0.1:6379 --instance-id a
 *   node build/src/cli/main.js start --port 9002 --app build/examples/chat-server.js --broker redis://127.0.0.1:6379 --instance-id b
 * then, in two or more other terminals:
 *   nc 127.0.0.1 9000
 * and type lines. nc prints each frame's 4-byte length header as a few odd bytes before the
 * text; a real client reads the length first, then that many bytes. Ctrl-C stops the server.
 */
import { pathToFileURL } from 'node:url';
import { NetServer, type Connection, type NetServerOptions } from '../src/index.js';

/** Options of the chat server: any NetServer option except the callbacks, which are the chat. */
export type ChatServerOptions = Omit<NetServerOptions, 'callbacks'>;

/** A room's topic: rooms are topics, and nothing else here is. */
const ROOM = 'room:';
/** A room name: 1 to 64 characters, no spaces or control characters. */
const ROOM_NAME = /^[^\s\x00-\x1f]{1,64}$/;

/** The room `conn` is in, or null in the lobby. */
function roomOf(conn: Connection): string | null {
  for (const topic of conn.topics) if (topic.startsWith(ROOM)) return topic.slice(ROOM.length);
  return null;
}

/** Creates (does not start) a chat server. */
export function createChatServer(options: ChatServerOptions = {}): NetServer {
  const server: NetServer = new NetServer({
    ...options,
    callbacks: {
      onConnection: (conn) => {
        conn.send(`* you are client ${conn.globalId}`);
        server.broadcast(`* client ${conn.globalId} joined`, conn);
      },
      onMessage: (conn, message) => {
        // 0x2f is '/': a command, read as text without its line end.
        if (message[0] === 0x2f) return command(conn, message.toString().trim());
        const room = roomOf(conn);
        // Parts are framed as one message: no copy of the relayed bytes is made.
        if (room === null) server.broadcast([`[client ${conn.globalId}] `, message], conn);
        else server.publish(ROOM + room, [`[client ${conn.globalId}] `, message], conn);
      },
      // The connection has already left the registry (and its room) here; on shutdown there is no one to tell.
      onClose: (conn, reason) => {
        if (reason !== 'server-stop') server.broadcast(`* client ${conn.globalId} left`);
      },
    },
  });

  function leaveRoom(conn: Connection): string | null {
    const room = roomOf(conn);
    if (room === null) return null;
    conn.leave(ROOM + room);
    server.publish(ROOM + room, `* client ${conn.globalId} left ${room}`);
    return room;
  }

  function command(conn: Connection, line: string): void {
    const [name = '', ...args] = line.split(/\s+/);
    switch (name) {
      case '/join': {
        const room = args[0] ?? '';
        if (args.length !== 1 || !ROOM_NAME.test(room)) {
          conn.send('* usage: /join ROOM (1 to 64 characters, no spaces)');
          return;
        }
        if (roomOf(conn) === room) {
          conn.send(`* you are in ${room} already`);
          return;
        }
        leaveRoom(conn);
        server.publish(ROOM + room, `* client ${conn.globalId} joined ${room}`);
        conn.join(ROOM + room);
        conn.send(`* you joined ${room}`);
        return;
      }
      case '/leave': {
        const room = leaveRoom(conn);
        conn.send(room === null ? '* you are in the lobby' : `* you left ${room}`);
        return;
      }
      case '/msg': {
        const [to = '', ...words] = args;
        const text = line.slice(line.indexOf(to, name.length) + to.length).trim();
        if (words.length === 0 || !/^\S+:\d+$/.test(to)) {
          conn.send('* usage: /msg ID TEXT');
          return;
        }
        const sent = server.sendTo(to, `[client ${conn.globalId} privately] ${text}`);
        conn.send(sent ? `* sent to ${to}` : `* no client ${to}`);
        return;
      }
      default:
        conn.send(`* unknown command ${name}: try /join ROOM, /leave, /msg ID TEXT`);
    }
  }

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
