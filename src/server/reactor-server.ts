import type { AddressInfo } from 'node:net';
import type { CloseReason } from '../callbacks.js';
import type { Connection } from '../net/connection.js';
import type { Payload } from '../net/codec.js';
import { InvalidOptionError, ServerStateError } from '../core/errors.js';
import { moduleUrl } from '../pool/module-url.js';
import { ThreadPool, maxPoolSize, type TaskRef } from '../pool/thread-pool.js';
import { NET_SERVER_OPTION_NAMES, NetServer, resolveNetServerOptions, type NetServerOptions } from './net-server.js';
import { rejectUnknownOptions, requireInteger, requireModule, requireName, requireOptionsObject } from '../core/option-checks.js';
import { REPLY_PREFIX_BYTES } from '../pool/reply-prefix.js';

export { REPLY_PREFIX } from '../pool/reply-prefix.js';

/** A message handler exported by a task module: message bytes in, reply (or nothing) out. */
export type MessageHandler = (message: Uint8Array) => Payload | undefined | void | Promise<Payload | undefined | void>;

export interface ReactorServerOptions extends Omit<NetServerOptions, 'callbacks'> {
  /**
   * Worker threads for message handling; 0 (default) handles messages inline on the event loop,
   * which is faster for cheap handlers (see docs/benchmarks.md).
   */
  taskWorkers?: number;
  /** Module (URL or path) whose export handles each message; default: the echo. */
  taskModule?: string | URL;
  /** The export of `taskModule` to call. Default `"default"`. */
  taskExport?: string;
}

/** The options ReactorServer adds to NetServer's. */
const TASK_OPTION_NAMES: readonly (keyof ReactorServerOptions)[] = ['taskWorkers', 'taskModule', 'taskExport'];

/** Every option a ReactorServer takes: NetServer's (but its own callbacks) and the task options. */
export const REACTOR_SERVER_OPTION_NAMES: readonly (keyof ReactorServerOptions)[] = [
  ...NET_SERVER_OPTION_NAMES.filter((name): name is Exclude<typeof name, 'callbacks'> => name !== 'callbacks'),
  ...TASK_OPTION_NAMES,
];

/**
 * Checks the task options (the rest are NetServer's to check).
 * @throws InvalidOptionError naming the first bad one
 */
function checkTaskOptions(options: Pick<ReactorServerOptions, 'taskWorkers' | 'taskModule' | 'taskExport'>): void {
  const { taskWorkers = 0, taskModule, taskExport = 'default' } = options;
  // Bounded like the pool itself: a mistyped count must not start a million threads.
  requireInteger('taskWorkers', taskWorkers, 0, maxPoolSize());
  if (taskModule !== undefined) requireModule('taskModule', taskModule);
  requireName('taskExport', taskExport);
}

/**
 * Checks a ReactorServer's options as its constructor does, building nothing.
 * @throws InvalidOptionError naming the first bad option (UnknownOptionError for a key that is none)
 */
export function checkReactorServerOptions(options: ReactorServerOptions): void {
  requireOptionsObject('options', options);
  rejectUnknownOptions(options, REACTOR_SERVER_OPTION_NAMES);
  checkTaskOptions(options);
  const { taskWorkers: _workers, taskModule: _module, taskExport: _export, ...serverOptions } = options;
  resolveNetServerOptions(serverOptions);
}

const ECHO_TASK: TaskRef = { module: new URL('../pool/echo-task.js', import.meta.url) };

/**
 * The application base class, the seed's ReactorServer. Override the methods you need; the
 * default answers every message with `"[Server Reply]: " + message`, byte for byte.
 *
 * ```ts
 * class Upper extends ReactorServer {
 *   protected override processMessage(conn: Connection, msg: Buffer) {
 *     conn.send(msg.toString().toUpperCase());
 *   }
 * }
 * await new Upper({ port: 9000 }).start();
 * ```
 *
 * With `taskWorkers: N`, the default `processMessage` runs the handler module on a thread
 * pool and sends each reply from the connection's own loop, in message order.
 */
export class ReactorServer<T = unknown> {
  readonly server: NetServer<T>;
  /** The thread pool, when `taskWorkers` > 0. */
  readonly pool: ThreadPool | null;
  private readonly task: TaskRef | null;
  private inlineHandler: MessageHandler | null = null;
  private stopping: Promise<void> | null = null;
  /** The onMessage callback the server gets; start() may swap it for the echo itself. */
  private readonly dispatchMessage = (conn: Connection<T>, message: Buffer): void | Promise<void> => this.processMessage(conn, message);
  /** The last reply of each connection still waiting for its turn, to keep replies in order. */
  private readonly replyTails = new WeakMap<Connection<T>, Promise<void>>();

  /**
   * @throws InvalidOptionError for a bad option (UnknownOptionError for a key that is none),
   *   UnsupportedError for reusePort where it is missing
   */
  constructor(options: ReactorServerOptions = {}) {
    checkReactorServerOptions(options);
    const { taskWorkers = 0, taskModule, taskExport = 'default', ...serverOptions } = options;
    this.server = new NetServer<T>(serverOptions);
    this.task = taskModule === undefined ? (taskWorkers > 0 ? ECHO_TASK : null) : { module: moduleUrl(taskModule), name: taskExport };
    this.pool = taskWorkers > 0 ? new ThreadPool(taskWorkers) : null;
    this.server.setCallbacks({
      onConnection: (conn) => this.onConnection(conn),
      onMessage: this.dispatchMessage,
      onClose: (conn, reason) => this.onClose(conn, reason),
      onError: (conn, error) => this.onError(conn, error),
      onTimeout: (conn, idleMs) => this.onTimeout(conn, idleMs),
    });
    // A per-connection write callback costs memory and time: only wire it when overridden.
    if (this.onSendComplete !== ReactorServer.prototype.onSendComplete) {
      this.server.setCallbacks({ onSendComplete: (conn) => this.onSendComplete(conn) });
    }
  }

  /**
   * Loads the handler, starts the pool if any, then listens; resolves with the bound address.
   * @throws ServerStateError when called more than once
   */
  async start(): Promise<AddressInfo> {
    if (this.server.state !== 'new') throw new ServerStateError(`start() called on a server that is ${this.server.state}`);
    // Loaded here in both modes, so a wrong module or export fails start(), not every message.
    const handler = this.task === null ? null : await loadHandler(this.task);
    if (this.pool === null) this.inlineHandler = handler;
    // The plain echo, not overridden: the callback is the echo itself, one call per message
    // instead of three (measured about 2 % of echo throughput in a paired A/B).
    const plainEcho = this.processMessage === ReactorServer.prototype.processMessage && this.task === null;
    if (plainEcho && this.server.callbacks.onMessage === this.dispatchMessage) {
      this.server.setCallbacks({ onMessage: echoMessage });
    }
    this.pool?.start();
    try {
      return await this.server.start();
    } catch (err) {
      await this.pool?.stop();
      throw err;
    }
  }

  /**
   * Stops accepting, lets open connections finish (see `NetServer.stop`), then stops the pool;
   * resolves when all is closed. Every call returns the same promise.
   */
  stop(options: { drainTimeout?: number } = {}): Promise<void> {
    if (this.stopping === null) this.stopping = this.server.stop(options).then(() => this.pool?.stop());
    return this.stopping;
  }

  /** A connection was accepted. */
  protected onConnection(_conn: Connection<T>): void {}

  /**
   * One inbound message. Default: the handler module on the pool or inline when configured,
   * else the echo (`"[Server Reply]: " + message`) inline.
   */
  protected processMessage(conn: Connection<T>, message: Buffer): void | Promise<void> {
    if (this.pool !== null) return this.replyInOrder(conn, this.pool.run<Payload | undefined>(this.task as TaskRef, message));
    if (this.inlineHandler !== null) {
      const reply = this.inlineHandler(message);
      if (reply instanceof Promise) return this.replyInOrder(conn, reply);
      if (reply !== undefined) conn.send(reply);
      return;
    }
    echoMessage(conn, message);
  }

  /** Everything sent so far has been handed to the kernel. */
  protected onSendComplete(_conn: Connection<T>): void {}

  /** A connection closed; called once per connection. */
  protected onClose(_conn: Connection<T>, _reason: CloseReason): void {}

  /** A socket, protocol or handler error on a connection; `onClose` follows. */
  protected onError(_conn: Connection<T>, _error: Error): void {}

  /** A connection is being closed for idleness; `onClose` follows. */
  protected onTimeout(_conn: Connection<T>, _idleMs: number): void {}

  /**
   * Sends `reply` once every earlier reply on `conn` has been sent, so replies keep the order
   * of the messages even when tasks finish out of order. The returned promise keeps a
   * half-closed connection open until the reply is out; a rejection fails the connection.
   */
  private replyInOrder(conn: Connection<T>, reply: Promise<Payload | undefined | void>): Promise<void> {
    const previous = this.replyTails.get(conn);
    const sent = (previous === undefined ? reply : previous.then(() => reply)).then((payload) => {
      // A connection closed meanwhile just drops it: send() returns false.
      if (payload !== undefined) conn.send(payload);
    });
    // The next reply waits for this one whatever happens to it; its failure is reported once.
    this.replyTails.set(conn, sent.catch(() => undefined));
    return sent;
  }
}

/** The default application: `"[Server Reply]: " + message`, byte for byte. */
function echoMessage<T>(conn: Connection<T>, message: Buffer): void {
  conn.send([REPLY_PREFIX_BYTES, message]);
}

async function loadHandler(task: TaskRef): Promise<MessageHandler> {
  const module = (await import(moduleUrl(task.module))) as Record<string, unknown>;
  const name = task.name ?? 'default';
  const handler = module[name];
  if (typeof handler !== 'function') throw new InvalidOptionError('taskModule', `${String(task.module)} has no exported function "${name}"`);
  return handler as MessageHandler;
}

