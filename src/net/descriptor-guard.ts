import { readFileSync, readdirSync } from 'node:fs';

/**
 * The process's file descriptors, as new connections see them. When accept(2) fails with
 * EMFILE, libuv accepts and closes the waiting connections itself and reports nothing: the
 * server would shed clients without a trace. So the server keeps the top `reserve` descriptors
 * for everything but new connections: a connection accepted into that reserve is refused at
 * once (reason `fd-limit`), counted and reported, and libuv's silent path is only reached if
 * something else fills the reserve. Descriptors are handed out lowest first, so a socket's
 * number is a lower bound on the descriptors open: checking it costs nothing per accept.
 *
 * Linux only (it reads /proc); elsewhere `forThisProcess()` is null and the limit goes unguarded.
 */
export class DescriptorGuard {
  /** Descriptors at and above this number are the reserve. */
  readonly threshold: number;

  constructor(
    /** The soft RLIMIT_NOFILE. */
    readonly limit: number,
    /** Descriptors kept for the process: files, pipes, the metrics endpoint, libuv itself. */
    readonly reserve: number = defaultReserve(limit),
  ) {
    this.threshold = limit - reserve;
  }

  /** The guard for this process's limit, or null where it cannot be read. */
  static forThisProcess(): DescriptorGuard | null {
    const limit = softDescriptorLimit();
    return limit === null ? null : new DescriptorGuard(limit);
  }

  /**
   * True when a new socket was given descriptor `fd` from the reserve: the process is about to
   * run out. -1 (a transport that does not tell) is never in it.
   */
  inReserve(fd: number): boolean {
    return fd >= this.threshold;
  }

  /** Descriptors open in this process right now (reads /proc: for reports, not per connection). */
  openDescriptors(): number {
    // The directory being read holds one descriptor of its own.
    return readdirSync('/proc/self/fd').length - 1;
  }
}

/** 1/64 of the limit, at least 8 and at most 64. */
function defaultReserve(limit: number): number {
  return Math.max(8, Math.min(64, Math.ceil(limit / 64)));
}

let cachedLimit: number | null | undefined;

/** The soft limit on open files (RLIMIT_NOFILE), or null when unknown or unlimited. */
export function softDescriptorLimit(): number | null {
  if (cachedLimit !== undefined) return cachedLimit;
  cachedLimit = null;
  if (process.platform === 'linux') {
    try {
      const match = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
      if (match !== null) cachedLimit = Number(match[1]);
    } catch {
      // No /proc (a sandbox): unguarded, as on other platforms.
    }
  }
  return cachedLimit;
}
