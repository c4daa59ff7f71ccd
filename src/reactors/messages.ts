import type { LoopStats } from '../core/loop-stats.js';
import type { TlsMaterial } from '../transport/node-tls.js';
import type { CodecName } from '../server/options.js';
import type { LogLevel } from '../ops/logging.js';
import type { ReactorServerOptions } from '../server/reactor-server.js';
import type { LiveOptions } from '../server/live-options.js';
import type { AddressTableState } from '../admission/address-table.js';
import type { AdmissionAnswers, AdmissionOps } from '../admission/remote-limiter.js';

/**
 * Where a reactor's per-address limits live: a table in memory shared by every reactor thread,
 * or (processes share no memory) the supervisor, asked per new connection.
 */
export type AdmissionLink = { kind: 'shared'; table: AddressTableState } | { kind: 'supervisor'; countsConnections: boolean };
import type { Delivery, Outgoing } from '../broker/broker-hub.js';

/** What a sub-reactor is told to run. Everything in it survives structured cloning. */
export interface SubReactorConfig {
  /** 0-based position of this reactor in the group. */
  index: number;
  /** How many reactors this slot had before this one (0 for the first). */
  generation: number;
  /**
   * Where this reactor counts in the group's shared per-address table: its index, or index +
   * count when it replaces a reactor that still drains in the other.
   */
  column: number;
  /** Reactors in the group (connection ids step by this, so they are unique group-wide). */
  count: number;
  /** The application module, or null for the default echo. */
  app: string | null;
  appExport: string;
  logLevel: LogLevel;
  /** The group's per-address limits; null when none is set. */
  admission: AdmissionLink | null;
  /** Codecs travel by name: a Codec object cannot cross threads. */
  options: Omit<ReactorServerOptions, 'codec' | 'idStart' | 'idStep' | 'transport'> & { codec?: CodecName; transport?: 'node' | 'bun' };
}

/** Supervisor to sub-reactor. */
export type ToReactor =
  | { t: 'start'; config: SubReactorConfig }
  /** For this reactor's own connections: a broadcast, a topic's messages, a direct send. */
  | Delivery
  | { t: 'stats'; requestId: number }
  /** New TLS material for new handshakes (already checked by the supervisor). */
  | { t: 'reloadTls'; tls: TlsMaterial }
  /** New values of live options and the log level (already checked by the supervisor); answered with `reconfigured`. */
  | { t: 'reconfigure'; requestId: number; options: LiveOptions; logLevel: LogLevel | undefined }
  /** The answers to an `admission` batch's questions (processes mode). */
  | { t: 'admitted'; answers: AdmissionAnswers }
  | { t: 'stop'; drainTimeout: number | undefined }
  /** The answer to `stopped`: everything sent to the reactor before it has reached it; it may go. */
  | { t: 'release' };

/** Sub-reactor to supervisor. */
export type FromReactor =
  /** Listening for the supervisor: messages sent to a process before it listens are lost. */
  | { t: 'hello' }
  | { t: 'ready'; address: string; family: string; port: number }
  | { t: 'failed'; message: string; code: string | undefined }
  /** An uncaught exception is ending this reactor (processes: a thread's error reaches the supervisor by itself). */
  | { t: 'fatal'; name: string; message: string; stack: string | undefined }
  /** For everyone else (broadcast, publish, sendTo), and this reactor's topic membership. */
  | Outgoing
  | { t: 'stats'; requestId: number; stats: LoopStats; eventLoopLagSeconds: number }
  /**
   * Questions (may a new connection from this address be served?) and releases (an admitted
   * connection closed), in order (processes mode: the supervisor keeps the per-address limits).
   */
  | { t: 'admission'; ops: AdmissionOps }
  /** The options of a `reconfigure` are in force (or, with `error`, were refused: nothing changed). */
  | { t: 'reconfigured'; requestId: number; error: string | undefined }
  /**
   * Told to stop, this reactor has closed its listener: no new connection reaches it (a
   * cluster worker's close reaches the primary first, on the same channel), while its open
   * ones drain.
   */
  | { t: 'notAccepting' }
  | { t: 'stopped' };
