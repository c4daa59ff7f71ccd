/**
 * A build's message path without sockets, for `path-ab` and `path-instructions.sh`: a NetServer
 * of that build with a transport that has no sockets, one connection, and reads handed
 * straight to the connection's `handleData` (decode, the echo's `onMessage`, framing, the write
 * taken by the fake transport).
 */
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';

type Library = typeof import('../src/index.js');
export type Sink = { handleData(chunk: Buffer): void };
export type PathCodec = 'seed' | 'length' | 'line';

/** One connection of an echo NetServer from the build at `dir` (the directory holding src/index.js). */
export async function connectionOf(dir: string, codec: PathCodec): Promise<Sink> {
  const lib = (await import(pathToFileURL(resolve(dir, 'src/index.js')).href)) as Library;
  let accept: ((handle: unknown) => void) | undefined;
  let sink: Sink | undefined;
  const driver = {
    attach: (_h: unknown, s: Sink) => void (sink = s),
    write: (_h: unknown, chunk: Buffer) => chunk.length,
    isFull: () => false,
    listenWritable: () => undefined,
    queuedBytes: () => 0,
    bytesRead: () => 0,
    pause: () => undefined,
    resume: () => undefined,
    shutdown: () => undefined,
    close: () => undefined,
    reset: () => undefined,
    isClosed: () => false,
    remoteAddress: () => '127.0.0.1',
    remotePort: () => 1,
    descriptor: () => -1,
  };
  const transport = {
    name: 'none',
    driver,
    createListener: (_options: unknown, onAccept: (handle: unknown) => void) => {
      accept = onAccept;
      return { listen: async () => ({ address: '127.0.0.1', family: 'IPv4', port: 1 }), address: () => null, close: async () => undefined };
    },
  } as unknown as import('../src/index.js').Transport;
  const prefix = Buffer.from(lib.REPLY_PREFIX);
  const server = new lib.NetServer({ transport, codec, idleTimeout: 0, callbacks: { onMessage: (conn, message) => void conn.send([prefix, message]) } });
  await server.start();
  accept?.({});
  if (sink === undefined) throw new Error(`${dir}: no connection`);
  return sink;
}

/** The reads of one 16-byte message in `codec`'s framing: one read, or (`split`) two, cut inside it. */
export function messageReads(codec: PathCodec, split: boolean): Buffer[] {
  const body = Buffer.alloc(16, 0x61);
  const message = codec === 'length' ? Buffer.concat([Buffer.from([16, 0, 0, 0]), body]) : codec === 'line' ? Buffer.concat([body, Buffer.from('\n')]) : body;
  return split ? [message.subarray(0, 10), message.subarray(10)] : [message];
}

/** Hands `count` messages to `sink`, each read a buffer of its own as a socket's are (not a slice of Node's pool); returns ns per message. */
export function run(sink: Sink, reads: readonly Buffer[], count: number): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < count; i++) {
    for (const read of reads) {
      const chunk = Buffer.allocUnsafeSlow(read.length);
      read.copy(chunk);
      sink.handleData(chunk);
    }
  }
  return Number(process.hrtime.bigint() - start) / count;
}
