/**
 * What a running `start` answers on its control socket (one JSON object per line each way):
 * `status` and `reload`, asked by the `status` and `reload` commands. Types only: both sides
 * import them, and neither loads the other.
 */

/** A request on the control socket. */
export type ControlRequest = { cmd: 'status' } | { cmd: 'reload' };

/**
 * The reply to a request the server could not take: not JSON, not an object with a `cmd`, a
 * `cmd` it does not know, or a handler that failed. The connection stays usable.
 */
export interface ControlErrorReply {
  error: string;
}

/** One reactor of the running server, as `status` shows it. */
export interface ReactorSummary {
  index: number;
  /** 'thread', 'process', or 'inline' (one reactor, on the main process's own loop). */
  kind: string;
  /** Thread id or process id. */
  id: number;
  serving: boolean;
  connections: number;
}

/** The answer to `status`. */
export interface StatusReport {
  pid: number;
  version: string;
  uptimeSeconds: number;
  /** Where it listens, as HOST:PORT. */
  address: string;
  /** True once a stop has begun (the server drains). */
  draining: boolean;
  connections: number;
  /** Seconds a stop gives open connections to finish (`drainTimeout`): `stop` waits this plus a margin. */
  drainTimeoutSeconds: number;
  reactors: ReactorSummary[];
}

/** One reactor replaced by a reload: its slot, and the thread or process before and after. */
export interface ReplacedReactor {
  index: number;
  kind: string;
  from: number;
  to: number;
}

/** A setting a reload found changed but could not apply to the running server. */
export interface RestartRequired {
  key: string;
  /** The value in force. */
  running: unknown;
  /** The value the reload read. */
  wanted: unknown;
}

/** The answer to `reload` (and what SIGHUP logs). */
export interface ReloadReport {
  /** False when the new settings were refused: nothing changed. */
  ok: boolean;
  /** Why the new settings were refused, each naming its setting. */
  problems: { key: string; message: string }[];
  /** Settings that changed and are now in force in every reactor. */
  applied: string[];
  /** Settings that changed but take effect only after a restart. */
  restartRequired: RestartRequired[];
  /** Reactors replaced so that new application and task code is loaded (with --workers > 1). */
  replaced: ReplacedReactor[];
}
