/**
 * Named errors. Each carries a stable `code` so callers can branch on it without parsing
 * messages; socket errors from Node (ECONNRESET, EPIPE, ...) are passed through unchanged.
 */
export class ReactorError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** An application callback threw or its promise rejected; only its connection is closed. */
export class HandlerError extends ReactorError {
  constructor(
    readonly callback: string,
    cause: unknown,
  ) {
    super('ERR_HANDLER_FAILED', `${callback} handler failed: ${describe(cause)}`, { cause });
  }
}

/** An option has a value the server cannot use. */
export class InvalidOptionError extends ReactorError {
  constructor(
    readonly option: string,
    /** What is wrong with it, without the option's name. */
    readonly reason: string,
  ) {
    super('ERR_INVALID_OPTION', `invalid option ${option}: ${reason}`);
  }
}

/** An options object has a key no option is called; `suggestion` is the name it is nearest to. */
export class UnknownOptionError extends InvalidOptionError {
  constructor(
    option: string,
    readonly suggestion: string | undefined,
  ) {
    super(option, `unknown option${suggestion === undefined ? '' : ` (did you mean ${suggestion}?)`}`);
    this.message = `unknown option ${option}${suggestion === undefined ? '' : ` (did you mean ${suggestion}?)`}`;
  }
}

/** The server was asked to do something in the wrong lifecycle state. */
export class ServerStateError extends ReactorError {
  constructor(message: string) {
    super('ERR_SERVER_STATE', message);
  }
}

/** The running Node.js lacks a feature the options ask for. */
export class UnsupportedError extends ReactorError {
  constructor(
    message: string,
    /** The option that asked for it, when one did. */
    readonly option?: string,
  ) {
    super('ERR_UNSUPPORTED', message);
  }
}

function describe(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}

/** The thread pool is stopping or stopped: the task was not run (or was cut short by a forced stop). */
export class PoolStoppedError extends ReactorError {
  constructor(message = 'pool stopped') {
    super('ERR_POOL_STOPPED', message);
  }
}

/** The thread pool was asked to do something in the wrong lifecycle state. */
export class PoolStateError extends ReactorError {
  constructor(message: string) {
    super('ERR_POOL_STATE', message);
  }
}

/** A pool worker died (uncaught error or process.exit) while running the task; it was replaced. */
export class WorkerCrashError extends ReactorError {
  constructor(cause: unknown) {
    super('ERR_WORKER_CRASHED', `pool worker crashed: ${describe(cause)}`, { cause });
  }
}

/**
 * The process is out of file descriptors for new connections: they are refused (reason
 * `fd-limit`) until descriptors free up. `code` is EMFILE, as accept(2) would say.
 */
export class DescriptorLimitError extends ReactorError {
  constructor(
    /** The soft limit on open files. */
    readonly limit: number,
    /** Descriptors open when this was reported. */
    readonly open: number,
    /** Connections refused since the previous report. */
    readonly refused: number,
  ) {
    super('EMFILE', `out of file descriptors (${open} of ${limit} open): refused ${refused} new connection${refused === 1 ? '' : 's'}; the server keeps accepting as descriptors free up`);
  }
}

/** The peer broke the wire format (a frame or line over the limit, a malformed header). */
export class ProtocolError extends ReactorError {}

/** A length header announced more than `maxMessageBytes`; nothing was allocated for it. */
export class FrameTooLargeError extends ProtocolError {
  constructor(
    readonly announced: number,
    readonly limit: number,
  ) {
    super('ERR_FRAME_TOO_LARGE', `frame of ${announced} bytes exceeds maxMessageBytes (${limit})`);
  }
}

/** A line grew past `maxMessageBytes` without a newline. */
export class LineTooLongError extends ProtocolError {
  constructor(readonly limit: number) {
    super('ERR_LINE_TOO_LONG', `line exceeds maxMessageBytes (${limit}) without a newline`);
  }
}

/** The peer does not read: pending output passed `maxPendingOutput`; the connection was closed. */
export class OutputOverflowError extends ReactorError {
  constructor(
    readonly pending: number,
    readonly limit: number,
  ) {
    super('ERR_OUTPUT_OVERFLOW', `${pending} bytes of output pending exceed maxPendingOutput (${limit})`);
  }
}

/** A request got no reply in time; the client connection stays usable. */
export class RequestTimeoutError extends ReactorError {
  constructor(readonly timeoutMs: number) {
    super('ERR_REQUEST_TIMEOUT', `no reply within ${timeoutMs} ms`);
  }
}

/** The connection closed (or could not be made) before the reply arrived. */
export class ConnectionClosedError extends ReactorError {
  constructor(message = 'connection closed before the reply arrived', options?: { cause?: unknown }) {
    super('ERR_CONNECTION_CLOSED', message, options);
  }
}

/**
 * An empty message sent with the seed codec: the server delivers each read as a message, and an
 * empty write is no read, so it would get no reply.
 */
export class EmptyMessageError extends ReactorError {
  constructor() {
    super('ERR_EMPTY_MESSAGE', 'an empty message gets no reply with the seed codec (an empty write is no read at the server)');
  }
}
