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
    reason: string,
  ) {
    super('ERR_INVALID_OPTION', `invalid option ${option}: ${reason}`);
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
  constructor(message: string) {
    super('ERR_UNSUPPORTED', message);
  }
}

function describe(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}
