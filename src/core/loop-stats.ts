import { addTlsStats, emptyTlsStats, type TlsStats } from './tls-stats.js';

/** Counters kept by one event loop. Plain numbers: incrementing them costs nothing. */
export interface LoopStats {
  /** Connections open right now. */
  connections: number;
  /** Connections accepted since start. */
  accepted: number;
  messagesIn: number;
  messagesOut: number;
  bytesIn: number;
  bytesOut: number;
  /** Connections closed by the idle sweep. */
  idleClosed: number;
  /** Errors reported through `onError` (socket, protocol and handler errors). */
  errors: number;
  /** Times a connection stopped being read because its peer did not read our output. */
  backpressurePauses: number;
  /** Times a connection stopped being read because it reached `maxMessagesPerSecond`. */
  messageRatePauses: number;
  /**
   * Bytes set aside right now for messages begun and not yet complete, all connections
   * together (a gauge, bounded by `maxBufferedInput`; see InputBudget).
   */
  bufferedInput: number;
  /** Connections closed at accept (refused by a limit, by admission control, the PROXY stage, or out of file descriptors). */
  rejected: number;
  /** `rejected`, by reason (see RejectReason). */
  rejectedByReason: Record<string, number>;
  /** `errors`, by error code (`ECONNRESET`, `ERR_FRAME_TOO_LARGE`, `ERR_HANDLER_FAILED`, ...). */
  errorsByCode: Record<string, number>;
  /** Handshake counters of a TLS server (every connection in `connections` is then TLS); null without TLS. */
  tls: TlsStats | null;
}

/** Adds `stats` into `total`. */
export function addStats(total: LoopStats, stats: LoopStats): void {
  for (const key of Object.keys(total) as (keyof LoopStats)[]) {
    if (key !== 'errorsByCode' && key !== 'rejectedByReason' && key !== 'tls') total[key] += stats[key];
  }
  if (stats.tls !== null) addTlsStats((total.tls ??= emptyTlsStats()), stats.tls);
  for (const [code, n] of Object.entries(stats.errorsByCode)) total.errorsByCode[code] = (total.errorsByCode[code] ?? 0) + n;
  for (const [reason, n] of Object.entries(stats.rejectedByReason)) total.rejectedByReason[reason] = (total.rejectedByReason[reason] ?? 0) + n;
}

export function emptyStats(): LoopStats {
  return { connections: 0, accepted: 0, messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0, idleClosed: 0, errors: 0, backpressurePauses: 0, messageRatePauses: 0, bufferedInput: 0, rejected: 0, rejectedByReason: {}, errorsByCode: {}, tls: null };
}
