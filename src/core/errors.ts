/**
 * Every error the project throws or reports, by area, each with a stable `code` so callers
 * can branch on it without parsing messages. A class's code is also on the class itself
 * (`FrameTooLargeError.code`), and docs/errors.md lists every code: when it happens, what is
 * closed, what to do. A code, once given, keeps its meaning and is never reused.
 *
 * Socket errors from Node (ECONNRESET, EPIPE, ...) are passed through unchanged, with Node's code.
 */

/** The base of every error here: `code` names the error, `name` its class. */
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

function describe(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}

// --- Options and lifecycle ---------------------------------------------------------------

/** An option has a value the server cannot use. */
export class InvalidOptionError extends ReactorError {
  static readonly code = 'ERR_INVALID_OPTION';

  constructor(
    readonly option: string,
    /** What is wrong with it, without the option's name. */
    readonly reason: string,
  ) {
    super(InvalidOptionError.code, `invalid option ${option}: ${reason}`);
  }
}

/**
 * An options object has a key no option is called; `suggestion` is the name it is nearest to.
 * A kind of InvalidOptionError, with its code.
 */
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
  static readonly code = 'ERR_SERVER_STATE';

  constructor(message: string) {
    super(ServerStateError.code, message);
  }
}

/** The running Node.js lacks a feature the options ask for. */
export class UnsupportedError extends ReactorError {
  static readonly code = 'ERR_UNSUPPORTED';

  constructor(
    message: string,
    /** The option that asked for it, when one did. */
    readonly option?: string,
  ) {
    super(UnsupportedError.code, message);
  }
}

// --- Connections and protocol ------------------------------------------------------------

/** An application callback threw or its promise rejected; only its connection is closed. */
export class HandlerError extends ReactorError {
  static readonly code = 'ERR_HANDLER_FAILED';

  constructor(
    readonly callback: string,
    cause: unknown,
  ) {
    super(HandlerError.code, `${callback} handler failed: ${describe(cause)}`, { cause });
  }
}

/**
 * The peer broke the wire format (a frame or line over the limit, a malformed header). The
 * class of the errors below; a custom codec may throw it with a code of its own.
 */
export class ProtocolError extends ReactorError {}

/** A length header announced more than `maxMessageBytes`; nothing was allocated for it. */
export class FrameTooLargeError extends ProtocolError {
  static readonly code = 'ERR_FRAME_TOO_LARGE';

  constructor(
    readonly announced: number,
    readonly limit: number,
  ) {
    super(FrameTooLargeError.code, `frame of ${announced} bytes exceeds maxMessageBytes (${limit})`);
  }
}

/** A line grew past `maxMessageBytes` without a newline. */
export class LineTooLongError extends ProtocolError {
  static readonly code = 'ERR_LINE_TOO_LONG';

  constructor(readonly limit: number) {
    super(LineTooLongError.code, `line exceeds maxMessageBytes (${limit}) without a newline`);
  }
}

/** Why a PROXY protocol header was refused (`ProxyProtocolError.reason`). */
export type ProxyProtocolReason =
  /** The first bytes are neither `PROXY ` (version 1) nor the version 2 signature. */
  | 'not-proxy'
  /** Version 1 text that breaks the syntax: an unknown protocol, a stray CR or LF, a missing field. */
  | 'malformed'
  /** A version 1 line without CRLF in 107 bytes, or a version 2 header longer than allowed. */
  | 'too-long'
  /** The version 2 signature with a version other than 2. */
  | 'unsupported-version'
  /** A version 2 command other than LOCAL (0) and PROXY (1). */
  | 'unsupported-command'
  /** A version 2 address family and protocol byte the specification does not list. */
  | 'bad-family'
  /** An address or port that is not valid for its family, or an address block too short for it. */
  | 'bad-address'
  /** A version 2 TLV that runs past the header, is repeated, or has a value its type forbids. */
  | 'bad-tlv'
  /** The CRC32C TLV does not match the header. */
  | 'checksum'
  /** A peer outside the trusted proxies sent a header, or sent anything where a header is required. */
  | 'untrusted'
  /** A trusted proxy did not finish its header within the header timeout. */
  | 'timeout';

/**
 * A PROXY protocol header (version 1 or 2) that cannot be accepted; `reason` says what is
 * wrong with it. Only the connection that sent it is closed.
 */
export class ProxyProtocolError extends ProtocolError {
  static readonly code = 'ERR_PROXY_PROTOCOL';

  constructor(
    readonly reason: ProxyProtocolReason,
    /** What was wrong, in words (peer bytes in it are escaped and cut short). */
    detail: string,
    /** The header's version, once its first bytes told it. */
    readonly version?: 1 | 2,
  ) {
    super(ProxyProtocolError.code, `PROXY protocol${version === undefined ? '' : ` v${version}`} header refused (${reason}): ${detail}`);
  }
}

/** The peer does not read: pending output passed `maxPendingOutput`; the connection was closed. */
export class OutputOverflowError extends ReactorError {
  static readonly code = 'ERR_OUTPUT_OVERFLOW';

  constructor(
    readonly pending: number,
    readonly limit: number,
  ) {
    super(OutputOverflowError.code, `${pending} bytes of output pending exceed maxPendingOutput (${limit})`);
  }
}

/**
 * The connections of one reactor together held more than `maxBufferedInput` bytes of
 * unfinished input (messages begun and not yet complete): this one held the most, and was
 * closed to bring the total back under the bound. Other connections are served on.
 */
export class InputBudgetExceededError extends ReactorError {
  static readonly code = 'ERR_INPUT_BUDGET';

  constructor(
    /** Bytes this connection held for its unfinished message. */
    readonly held: number,
    /** Bytes every connection of the reactor held together, this one's included, when it was chosen. */
    readonly total: number,
    readonly limit: number,
  ) {
    super(InputBudgetExceededError.code, `closed holding ${held} bytes of unfinished input, the most of any connection, while all held ${total} bytes, over maxBufferedInput (${limit})`);
  }
}

/**
 * The process is out of file descriptors for new connections: they are refused (reason
 * `fd-limit`) until descriptors free up. `code` is EMFILE, as accept(2) would say.
 */
export class DescriptorLimitError extends ReactorError {
  static readonly code = 'EMFILE';

  constructor(
    /** The soft limit on open files. */
    readonly limit: number,
    /** Descriptors open when this was reported. */
    readonly open: number,
    /** Connections refused since the previous report. */
    readonly refused: number,
  ) {
    super(DescriptorLimitError.code, `out of file descriptors (${open} of ${limit} open): refused ${refused} new connection${refused === 1 ? '' : 's'}; the server keeps accepting as descriptors free up`);
  }
}

// --- Thread pool -------------------------------------------------------------------------

/** The thread pool is stopping or stopped: the task was not run (or was cut short by a forced stop). */
export class PoolStoppedError extends ReactorError {
  static readonly code = 'ERR_POOL_STOPPED';

  constructor(message = 'pool stopped') {
    super(PoolStoppedError.code, message);
  }
}

/** The thread pool was asked to do something in the wrong lifecycle state. */
export class PoolStateError extends ReactorError {
  static readonly code = 'ERR_POOL_STATE';

  constructor(message: string) {
    super(PoolStateError.code, message);
  }
}

/** A pool worker died (uncaught error or process.exit) while running the task; it was replaced. */
export class WorkerCrashError extends ReactorError {
  static readonly code = 'ERR_WORKER_CRASHED';

  constructor(cause: unknown) {
    super(WorkerCrashError.code, `pool worker crashed: ${describe(cause)}`, { cause });
  }
}

// --- Reactor group -----------------------------------------------------------------------

/** A sub-reactor failed to start (bad application module, port in use, ...). */
export class ReactorStartError extends ReactorError {
  static readonly code = 'ERR_REACTOR_START';

  constructor(
    index: number,
    message: string,
    /** The code of the error that stopped it (EADDRINUSE, ERR_MODULE_NOT_FOUND, ...), when it had one. */
    readonly causeCode: string | undefined,
  ) {
    super(ReactorStartError.code, `sub-reactor ${index} failed to start: ${message}`);
  }
}

// --- Broker ------------------------------------------------------------------------------

/**
 * A broadcast, topic publish or direct send larger than `maxMessageBytes`: nothing was sent,
 * to no one. The same limit bounds what crosses between reactors and instances.
 */
export class PayloadTooLargeError extends ReactorError {
  static readonly code = 'ERR_PAYLOAD_TOO_LARGE';

  constructor(
    readonly bytes: number,
    readonly limit: number,
  ) {
    super(PayloadTooLargeError.code, `a ${bytes}-byte payload exceeds maxMessageBytes (${limit}): not sent`);
  }
}

// --- Client ------------------------------------------------------------------------------

/** A request got no reply in time; the client connection stays usable. */
export class RequestTimeoutError extends ReactorError {
  static readonly code = 'ERR_REQUEST_TIMEOUT';

  constructor(readonly timeoutMs: number) {
    super(RequestTimeoutError.code, `no reply within ${timeoutMs} ms`);
  }
}

/** The connection closed (or could not be made) before the reply arrived. */
export class ConnectionClosedError extends ReactorError {
  static readonly code = 'ERR_CONNECTION_CLOSED';

  constructor(message = 'connection closed before the reply arrived', options?: { cause?: unknown }) {
    super(ConnectionClosedError.code, message, options);
  }
}

/**
 * A TLS client's handshake failed: the server's certificate did not verify (an unknown CA, a
 * name it does not cover, expired), the peer does not speak TLS, or no protocol was shared.
 * `reason` is OpenSSL's or Node's code for it (`UNABLE_TO_VERIFY_LEAF_SIGNATURE`,
 * `ERR_TLS_CERT_ALTNAME_INVALID`, `ERR_SSL_WRONG_VERSION_NUMBER`, ...).
 */
export class TlsHandshakeError extends ReactorError {
  static readonly code = 'ERR_TLS_HANDSHAKE';

  constructor(
    /** The server, as HOST:PORT. */
    readonly target: string,
    readonly reason: string,
    cause: unknown,
  ) {
    super(TlsHandshakeError.code, `TLS handshake with ${target} failed: ${describe(cause)} (${reason})`, { cause });
  }
}

/**
 * An empty message sent with the seed codec: the server delivers each read as a message, and an
 * empty write is no read, so it would get no reply.
 */
export class EmptyMessageError extends ReactorError {
  static readonly code = 'ERR_EMPTY_MESSAGE';

  constructor() {
    super(EmptyMessageError.code, 'an empty message gets no reply with the seed codec (an empty write is no read at the server)');
  }
}

// --- Configuration -----------------------------------------------------------------------

/** One problem with a config file, naming the key. */
export interface ConfigProblem {
  key: string;
  message: string;
}

/** A config file that cannot be used; `problems` names each bad key and why. */
export class ConfigFileError extends ReactorError {
  static readonly code = 'ERR_CONFIG_INVALID';

  constructor(
    readonly file: string,
    readonly problems: ConfigProblem[],
  ) {
    super(ConfigFileError.code, `${file}: ${problems.map((p) => `${p.key}: ${p.message}`).join('; ')}`);
  }
}

// --- Operations --------------------------------------------------------------------------

/** Why a control socket gave no usable answer. */
export type ControlSocketFailure = 'unreachable' | 'timeout' | 'closed' | 'bad-reply' | 'refused';

/**
 * The control socket of a running `start --pid-file` gave no usable answer: nothing listens
 * there (`unreachable`), no answer in time (`timeout`), the connection closed first
 * (`closed`), an answer that is not one (`bad-reply`), or the server refused the request with
 * an error reply (`refused`).
 */
export class ControlSocketError extends ReactorError {
  static readonly code = 'ERR_CONTROL_SOCKET';

  constructor(
    readonly socketPath: string,
    readonly reason: ControlSocketFailure,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(ControlSocketError.code, `control socket ${socketPath}: ${detail}`, options);
  }
}
