/**
 * The control socket of a running `start --pid-file`: a UNIX socket only its own user may use
 * (mode 0600), speaking one JSON object per line each way. `{"cmd":"status"}` and
 * `{"cmd":"reload"}` are answered by the handlers `start` passes in; anything else gets
 * `{"error": "..."}` and the connection stays usable. Answers leave in the order the requests came.
 */
import { once } from 'node:events';
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { InvalidOptionError } from '../core/errors.js';
import type { ControlErrorReply, ReloadReport, StatusReport } from './control-protocol.js';

export interface ControlHandlers {
  status(): Promise<StatusReport>;
  /** Resolves once the reload is over: the new settings in force, or refused. */
  reload(): Promise<ReloadReport>;
}

export interface ControlServer {
  readonly path: string;
  /** Stops listening, ends every control connection and removes the socket file. */
  close(): Promise<void>;
  /** Removes the socket file if it is still this server's; synchronous, for the process's 'exit' event. */
  removeSocketFile(): void;
}

/** The longest request line: a request is a few bytes, so more is no request and ends its connection. */
export const MAX_REQUEST_BYTES = 4096;

/**
 * Listens on `path`, replacing a socket file left by a server that is gone.
 * @throws InvalidOptionError (option `pidFile`) when `path` exists and is not a socket, or
 *   another server listens there; the listen error when it cannot be listened on
 */
export async function startControlServer(path: string, handlers: ControlHandlers): Promise<ControlServer> {
  await removeStaleSocket(path);
  const connections = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    connections.add(socket);
    socket.once('close', () => connections.delete(socket));
    serve(socket, handlers);
  });
  // The socket file is made by bind(), inside listen(), with the process's umask: a umask that
  // leaves only the owner's bits makes it 0600 from its first moment, not after a chmod that
  // another user could race. The chmod then holds whatever umask the platform applied.
  const umask = process.umask(0o177);
  try {
    server.listen(path);
  } finally {
    process.umask(umask);
  }
  await once(server, 'listening');
  chmodSync(path, 0o600);
  const inode = lstatSync(path).ino;
  const removeSocketFile = (): void => {
    try {
      if (lstatSync(path).ino === inode) unlinkSync(path);
    } catch {
      // gone already
    }
  };
  return {
    path,
    removeSocketFile,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of connections) socket.destroy();
      await closed;
      removeSocketFile();
    },
  };
}

/**
 * Removes a socket file at `path` that nothing listens on any more. One that still accepts a
 * connection belongs to a live server (its pid file gone or edited meanwhile): it is left alone.
 */
async function removeStaleSocket(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!isSocket) throw new InvalidOptionError('pidFile', `its control socket ${path} exists and is not a socket (left alone)`);
  if (await answers(path)) throw new InvalidOptionError('pidFile', `another server listens on its control socket ${path}`);
  unlinkSync(path);
}

/** Whether something accepts connections on the UNIX socket at `path`. */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

/** Answers each request line of one connection, in order. */
function serve(socket: net.Socket, handlers: ControlHandlers): void {
  socket.setEncoding('utf8');
  // A client that goes away mid-answer costs nothing but its answer.
  socket.on('error', () => {});
  let buffered = '';
  let answered: Promise<void> = Promise.resolve();
  const reply = (answer: () => Promise<unknown>): void => {
    answered = answered.then(answer).then((value) => {
      if (!socket.destroyed) socket.write(`${encode(value)}\n`);
    });
  };
  socket.on('data', (text: string) => {
    buffered += text;
    for (let end = buffered.indexOf('\n'); end !== -1; end = buffered.indexOf('\n')) {
      const line = buffered.slice(0, end);
      buffered = buffered.slice(end + 1);
      if (line.trim() !== '') reply(() => answer(line, handlers));
    }
    if (buffered.length > MAX_REQUEST_BYTES) {
      buffered = '';
      socket.pause();
      reply(async () => errorReply(`request longer than ${MAX_REQUEST_BYTES} bytes without a newline: closing`));
      answered = answered.then(() => void socket.end());
    }
  });
}

/** The answer to one request line: the handler's report, or an error reply. */
async function answer(line: string, handlers: ControlHandlers): Promise<StatusReport | ReloadReport | ControlErrorReply> {
  let request: unknown;
  try {
    request = JSON.parse(line);
  } catch (err) {
    return errorReply(`request is not JSON: ${(err as Error).message}`);
  }
  const cmd = typeof request === 'object' && request !== null ? (request as { cmd?: unknown }).cmd : undefined;
  if (typeof cmd !== 'string') return errorReply('request must be an object with a "cmd": {"cmd":"status"} or {"cmd":"reload"}');
  try {
    if (cmd === 'status') return await handlers.status();
    if (cmd === 'reload') return await handlers.reload();
  } catch (err) {
    return errorReply(`${cmd} failed: ${err instanceof Error ? err.message : String(err)}`);
  }
  return errorReply(`unknown cmd ${JSON.stringify(cmd)}: expected "status" or "reload"`);
}

const errorReply = (error: string): ControlErrorReply => ({ error });

/** `value` as one JSON line; an error reply when it cannot be (a cycle, a BigInt), never a throw. */
function encode(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch (err) {
    return JSON.stringify(errorReply(`the answer could not be encoded as JSON: ${(err as Error).message}`));
  }
}
