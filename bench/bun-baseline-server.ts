/**
 * The Bun baseline: the seed protocol over `Bun.listen`, the way one would write it on Bun
 * without a framework (plaintext only). The same replies as baseline-server.ts: a 4-byte
 * little-endian length, then "[Server Reply]: " and the data. `npm run bench -- --only
 * runtimes` measures the project on Bun against it.
 *
 *   bun build/bench/bun-baseline-server.js [PORT]
 *
 * Bun's `write` sends what the socket takes now and returns how much that was; the rest is
 * the caller's to keep and write on `drain`, so each socket's data is its unwritten output
 * (undefined while there is none: an idle connection costs no object of its own). No
 * `setNoDelay`: Bun sets TCP_NODELAY on every accepted socket.
 */

// The few of Bun's types this script uses, declared here: the project is type-checked
// against Node.js's types alone, and these stay local to this module.
interface BunSocket<Data> {
  data: Data;
  /** Bytes the socket took now (-1 when it is closed). */
  write(bytes: Uint8Array): number;
}
interface BunSocketHandlers<Data> {
  open?(socket: BunSocket<Data>): void;
  data?(socket: BunSocket<Data>, bytes: Buffer): void;
  drain?(socket: BunSocket<Data>): void;
  close?(socket: BunSocket<Data>, error?: Error): void;
  error?(socket: BunSocket<Data>, error: Error): void;
}
interface BunListener {
  readonly hostname: string;
  readonly port: number;
  stop(closeActiveConnections?: boolean): void;
}
declare const Bun: {
  listen<Data>(options: { hostname: string; port: number; socket: BunSocketHandlers<Data> }): BunListener;
};

type Unwritten = Buffer | undefined;

const PREFIX = Buffer.from('[Server Reply]: ');
const [portArg = '0'] = process.argv.slice(2);

/** Writes `bytes` after whatever is still waiting, keeping what the socket does not take. */
function send(socket: BunSocket<Unwritten>, bytes: Buffer): void {
  if (socket.data !== undefined) {
    socket.data = Buffer.concat([socket.data, bytes]);
    return;
  }
  const written = socket.write(bytes);
  if (written < bytes.length) socket.data = bytes.subarray(Math.max(written, 0));
}

const server = Bun.listen<Unwritten>({
  hostname: '127.0.0.1',
  port: Number(portArg),
  socket: {
    data(socket, data) {
      const reply = Buffer.allocUnsafe(4 + PREFIX.length + data.length);
      reply.writeUInt32LE(PREFIX.length + data.length, 0);
      PREFIX.copy(reply, 4);
      data.copy(reply, 4 + PREFIX.length);
      send(socket, reply);
    },
    drain(socket) {
      const unwritten = socket.data;
      if (unwritten === undefined) return;
      socket.data = undefined;
      send(socket, unwritten);
    },
    close(socket) {
      socket.data = undefined;
    },
    error() {
      // the socket closes by itself; `close` follows
    },
  },
});
process.stdout.write(`bun baseline listening on ${server.hostname}:${server.port}\n`);

function stop(): void {
  server.stop(true);
  process.exit(0);
}
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
