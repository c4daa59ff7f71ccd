import { pino, type Logger } from 'pino';
import { lazyModule } from '../core/lazy-module.js';
import { DescriptorLimitError } from '../core/errors.js';
import { formatHostPort } from '../core/host-port.js';
import type { ServerObserver } from '../server/net-server.js';
import type { Connection } from '../net/connection.js';

const pinoPretty = lazyModule<typeof import('pino-pretty')>('pino-pretty');

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
export const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/**
 * The server's logger: JSON lines on stdout, or human-readable lines when `pretty` (the CLI
 * turns it on when stdout is a terminal).
 */
export function createLogger(level: LogLevel, prettyOutput: boolean, bindings: Record<string, unknown> = {}): Logger {
  // Synchronous writes: logs are rare (nothing per message), and none may be lost at exit.
  const stream = prettyOutput ? pinoPretty()({ colorize: true, sync: true, ignore: 'pid,hostname' }) : pino.destination({ fd: 1, sync: true });
  // Our errors' messages already name their causes (HandlerError: "... failed: boom"); pino's
  // default serializer would append each cause's message and stack again. This one keeps the
  // error's own message and stack, and serializes the cause as a field of its own.
  return pino({ level, base: { pid: process.pid, ...bindings }, serializers: { err: pino.stdSerializers.errWithCause } }, stream);
}

/** `{ proxy: 'HOST:PORT' }` for a connection a PROXY header named (its peer is then the client), else nothing. */
function proxyField(conn: Connection<unknown>): { proxy?: string } {
  const { proxy } = conn;
  return proxy === null ? {} : { proxy: formatHostPort(proxy.address, proxy.port) };
}

/** Errors that are the peer's doing and routine on any server: logged at debug, not warn. */
const ROUTINE = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT']);
/** At most one listener-error line per this many ms: an accept storm must not flood the log. */
const LISTENER_ERROR_INTERVAL_MS = 1000;

/**
 * Logs connection lifecycle at debug and problems at warn/error. Nothing is logged per message.
 */
export function loggingObserver(logger: Logger): ServerObserver {
  let lastListenerError = 0;
  let suppressed = 0;
  // Checked once: below debug, opening and closing a connection costs the logger nothing.
  const lifecycle = logger.isLevelEnabled('debug');
  return {
    connectionOpened: lifecycle ? (conn) => logger.debug({ conn: conn.id, peer: formatHostPort(conn.remoteAddress, conn.remotePort), ...proxyField(conn) }, 'connection opened') : undefined,
    connectionClosed: lifecycle ? (conn, reason) => logger.debug({ conn: conn.id, reason }, 'connection closed') : undefined,
    connectionError: (conn, error) => {
      const code = (error as { code?: string }).code ?? error.name;
      const fields = { conn: conn.id, peer: formatHostPort(conn.remoteAddress, conn.remotePort), ...proxyField(conn), code, err: error };
      if (ROUTINE.has(code)) logger.debug(fields, 'connection error');
      else logger.warn(fields, 'connection error');
    },
    // Out of descriptors, refusals come by the thousand: the once-a-second report says it at error.
    // A refusal of the operator's own limit is news; out of descriptors is reported once a
    // second on its own; a bad or untrusted PROXY peer is routine noise an attacker controls.
    connectionRejected: (peer, reason, error) =>
      logger[reason === 'max-connections' ? 'info' : 'debug']({ peer: formatHostPort(peer.address, peer.port), reason, ...(error === undefined ? {} : { err: error }) }, 'connection rejected'),
    handshakeFailed: lifecycle
      ? (failure) => logger.debug({ peer: formatHostPort(failure.peer.address, failure.peer.port), reason: failure.reason, code: (failure.error as { code?: string }).code }, 'tls handshake failed')
      : undefined,
    listenerError: (error) => {
      const now = Date.now();
      if (now - lastListenerError < LISTENER_ERROR_INTERVAL_MS) {
        suppressed++;
        return;
      }
      lastListenerError = now;
      if (error instanceof DescriptorLimitError) {
        const { limit, open, refused } = error;
        logger.error({ code: error.code, limit, open, refused }, 'out of file descriptors: refusing new connections until some free up');
      } else {
        logger.error({ err: error, suppressed }, 'accept failed; still listening');
      }
      suppressed = 0;
    },
  };
}
