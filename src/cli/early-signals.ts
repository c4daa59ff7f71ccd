/**
 * The CLI entry imports this module first, before anything heavy loads: from the moment the
 * process runs code, SIGINT or SIGTERM to `start` is remembered instead of killing it half-way
 * through start-up (reactors forked, listeners open). `Shutdown` takes the signal over.
 */
let received: NodeJS.Signals | null = null;
const remember = (signal: NodeJS.Signals): void => {
  received ??= signal;
};

// Only `start` runs long enough to care; the other commands keep the default (exit at once).
const starting = process.argv[2] === 'start';
// SIGHUP asks a running server to reload its TLS material; during start-up the files are
// being read anyway, so it is ignored rather than allowed to kill the process.
const ignoreHangup = (): void => {};
if (starting) {
  process.on('SIGINT', remember);
  process.on('SIGTERM', remember);
  process.on('SIGHUP', ignoreHangup);
}

/** Stops remembering; returns the signal that came before, if any. */
export function takeEarlySignal(): NodeJS.Signals | null {
  process.off('SIGINT', remember);
  process.off('SIGTERM', remember);
  return received;
}

/** The server's own SIGHUP handler is in place: stop ignoring it. */
export function releaseHangup(): void {
  process.off('SIGHUP', ignoreHangup);
}
