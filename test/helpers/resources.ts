/**
 * Leak and resource checks: what this process holds (libuv resources, file descriptors, OS
 * threads), what another process holds, and whether a process still exists. No tests here and
 * no side effects on import: `node --test build/test/` also loads this module.
 */
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { waitUntil } from './wait.js';

/**
 * How many of each kind of libuv resource keep the process alive right now. Always empty on
 * Bun (its process.getActiveResourcesInfo() lists nothing): checks that must mean something
 * there count descriptors too (snapshotHandles) or watch the timers (watchTimers).
 */
export function activeResources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const kind of process.getActiveResourcesInfo()) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  return counts;
}

/** Resources present now beyond `before` (kind -> extra count). */
export function extraResources(before: ReadonlyMap<string, number>): Map<string, number> {
  const extra = new Map<string, number>();
  for (const [kind, n] of activeResources()) {
    const more = n - (before.get(kind) ?? 0);
    if (more > 0) extra.set(kind, more);
  }
  return extra;
}

// Resources a leaked socket, listener, connect/shutdown request or timer shows up as. Unref'd
// timers (the idle sweep, the test runner's own timeout) are not listed by Node at all.
const TRACKED_RESOURCES = new Set(['TCPSocketWrap', 'TCPServerWrap', 'TCPConnectWrap', 'ConnectWrap', 'ShutdownWrap', 'SimpleShutdownWrap', 'Timeout', 'Immediate']);

export interface HandleSnapshot {
  /** Tracked resource name -> count. */
  readonly resources: ReadonlyMap<string, number>;
  /** Open file descriptors of this process, or -1 where /proc is missing. */
  readonly fds: number;
}

/** The sockets, listeners, requests and timers this process holds, and its descriptor count. */
export function snapshotHandles(): HandleSnapshot {
  const resources = new Map<string, number>();
  for (const [name, n] of activeResources()) if (TRACKED_RESOURCES.has(name)) resources.set(name, n);
  let fds = -1;
  try {
    fds = fdCount(process.pid);
  } catch {
    // Not Linux: the resource list alone has to do.
  }
  return { resources, fds };
}

function formatSnapshot(snapshot: HandleSnapshot): string {
  const resources = [...snapshot.resources].sort(([a], [b]) => a.localeCompare(b)).map(([name, n]) => `${name}=${n}`);
  return `{${resources.join(', ')}} fds=${snapshot.fds}`;
}

function sameHandles(a: HandleSnapshot, b: HandleSnapshot): boolean {
  if (a.fds !== b.fds || a.resources.size !== b.resources.size) return false;
  for (const [name, n] of a.resources) if (b.resources.get(name) !== n) return false;
  return true;
}

/** Waits (bounded) until the process holds exactly the handles and descriptors of `baseline`. */
export async function waitForHandles(baseline: HandleSnapshot, timeoutMs = 5000): Promise<void> {
  let current = snapshotHandles();
  await waitUntil(
    () => sameHandles((current = snapshotHandles()), baseline),
    () => `handles did not return to the baseline: before ${formatSnapshot(baseline)}, now ${formatSnapshot(current)}`,
    timeoutMs,
  );
}

/**
 * Runs `body`, then checks that this process holds exactly the handles and descriptors it held
 * before. `cleanup` runs whatever happened; the check only after a body that passed, so a
 * failure is reported as itself and not as the leak it left behind.
 */
export async function leakChecked(body: () => Promise<void>, cleanup: () => Promise<void> = async () => {}, timeoutMs = 3000): Promise<void> {
  const baseline = snapshotHandles();
  try {
    await body();
  } finally {
    await cleanup();
  }
  // Shorter than any test's own timeout, so a leak is reported as such.
  await waitForHandles(baseline, timeoutMs);
}

/** Open file descriptors of process `pid` (Linux /proc). */
export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** OS threads of this process right now (Linux /proc), or null where that is not available. */
export function osThreadCount(): number | null {
  try {
    const match = /^Threads:\s+(\d+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return match === null ? null : Number(match[1]);
  } catch {
    return null;
  }
}

/** Whether a process with this pid exists (a zombie counts; a reaped child does not). */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

/**
 * The last hook of a file: when a failure left a listener or sockets open (a leak the tests
 * have already reported), they would keep this process alive for ever. Unref'ing them lets
 * the file end. Does nothing after a clean run, when no TCP handle is left.
 */
export function releaseLeftoverSockets(): number {
  const getHandles = (process as unknown as { _getActiveHandles?: () => unknown[] })._getActiveHandles;
  if (typeof getHandles !== 'function') return 0;
  // The reporter writes through these (process.stdin is not touched: reading it opens it).
  const stdio: unknown[] = [process.stdout, process.stderr];
  let released = 0;
  for (const handle of getHandles.call(process)) {
    if (stdio.includes(handle)) continue;
    if (handle instanceof net.Server || handle instanceof net.Socket) {
      handle.unref();
      released++;
    }
  }
  return released;
}

export interface TimerWatch {
  /** Immediates scheduled while watched that have neither run nor been cleared. */
  pendingImmediates(): number;
  /** Timeouts and intervals made while watched that have neither fired (timeouts) nor been cleared. */
  liveTimers(): number;
  /** Those of them that keep the process alive (ref'd). */
  refedTimers(): number;
  /** Puts the globals back. */
  restore(): void;
}

/**
 * Watches the immediates and timers made through the global functions from now on, by
 * wrapping them: what process.getActiveResourcesInfo() shows on Node.js, read the same way on
 * every runtime (Bun's lists nothing).
 */
export function watchTimers(): TimerWatch {
  const original = { setImmediate, clearImmediate, setTimeout, clearTimeout, setInterval, clearInterval };
  const immediates = new Set<unknown>();
  const timers = new Set<NodeJS.Timeout>();
  const globals = globalThis as unknown as Record<string, unknown>;
  globals.setImmediate = (callback: (...args: unknown[]) => void, ...args: unknown[]) => {
    const handle: NodeJS.Immediate = original.setImmediate((...callArgs: unknown[]) => {
      immediates.delete(handle);
      callback(...callArgs);
    }, ...args);
    immediates.add(handle);
    return handle;
  };
  globals.clearImmediate = (handle: NodeJS.Immediate | undefined) => {
    immediates.delete(handle);
    original.clearImmediate(handle);
  };
  globals.setTimeout = (callback: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => {
    const handle: NodeJS.Timeout = original.setTimeout((...callArgs: unknown[]) => {
      timers.delete(handle);
      callback(...callArgs);
    }, ms, ...args);
    timers.add(handle);
    return handle;
  };
  globals.setInterval = (callback: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => {
    const handle = original.setInterval(callback, ms, ...args);
    timers.add(handle);
    return handle;
  };
  globals.clearTimeout = globals.clearInterval = (handle: NodeJS.Timeout | undefined) => {
    if (handle !== undefined) timers.delete(handle);
    original.clearTimeout(handle);
  };
  return {
    pendingImmediates: () => immediates.size,
    liveTimers: () => timers.size,
    refedTimers: () => [...timers].filter((timer) => timer.hasRef()).length,
    restore: () => Object.assign(globals, original),
  };
}
