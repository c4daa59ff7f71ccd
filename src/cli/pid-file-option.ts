/**
 * What `status`, `stop` and `reload` share: the `--pid-file` they find the server by, their
 * exit codes, and what the pid file says.
 */
import { Option, type Command } from 'commander';
import { controlSocketPath, readPidFile } from './pid-file.js';

/** Exit codes, as LSB init scripts give them for `status` (and `reload` uses them too). */
export const EXIT = {
  ok: 0,
  /** Refused or failed. */
  failed: 1,
  /** Not running: no pid file, or a stale one. */
  notRunning: 3,
  /** Running, but its state could not be learned: the control socket did not answer. */
  unknown: 4,
} as const;

export function addPidFileOption(command: Command): Command {
  return command.addOption(new Option('--pid-file <file>', 'the pid file the server was started with (start --pid-file)').env('REACTOR_PID_FILE').makeOptionMandatory());
}

/** The server a pid file names: running (with its control socket), not running (and why), or unknown. */
export type FoundServer =
  | { state: 'running'; pid: number; socketPath: string }
  | { state: 'not-running'; reason: string }
  | { state: 'unknown'; reason: string };

export function findServer(pidFile: string): FoundServer {
  try {
    const found = readPidFile(pidFile);
    if (found.kind === 'absent') return { state: 'not-running', reason: `no pid file ${pidFile}` };
    if (found.kind === 'stale') return { state: 'not-running', reason: `stale pid file ${pidFile}: ${found.reason}` };
    return { state: 'running', pid: found.pid, socketPath: controlSocketPath(pidFile) };
  } catch (err) {
    return { state: 'unknown', reason: `cannot read pid file ${pidFile}: ${err instanceof Error ? err.message : String(err)}` };
  }
}

/** Seconds as an operator reads them: `2 s`, `0.5 s`. */
export function formatSeconds(seconds: number): string {
  return `${Number(seconds.toFixed(3))} s`;
}
