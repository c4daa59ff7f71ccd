/**
 * The pid file of `start --pid-file FILE`, and the control socket's path beside it: how
 * `start` refuses a second server on the same file, and how `status`, `stop` and `reload`
 * find the running one. Reading tells a live server from a stale file: a pid with no process
 * behind it, or one the kernel has since given to another program.
 */
import { existsSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** What a pid file says about the server it names. */
export type PidFileState =
  | { kind: 'absent' }
  | { kind: 'running'; pid: number }
  /** `pid` is null when the file holds no pid at all. */
  | { kind: 'stale'; pid: number | null; reason: string };

/**
 * The control socket of the server that writes `pidFile`: the same path with `.pid` replaced
 * by `.sock`, or `.sock` appended.
 */
export function controlSocketPath(pidFile: string): string {
  return pidFile.endsWith('.pid') ? `${pidFile.slice(0, -'.pid'.length)}.sock` : `${pidFile}.sock`;
}

/**
 * Reads `file` and looks at the process it names.
 * @param self this process's pid: a file naming it is stale (written before a restart that
 *   got the same pid, as pid 1 in a container always does)
 * @throws the file system's error when the file exists but cannot be read
 */
export function readPidFile(file: string, self = process.pid): PidFileState {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'absent' };
    throw err;
  }
  const pid = parsePid(text);
  if (pid === null) return { kind: 'stale', pid: null, reason: `${file} does not hold a process id` };
  if (pid === self) return { kind: 'stale', pid, reason: `pid ${pid} is this very process` };
  if (!isAlive(pid)) return { kind: 'stale', pid, reason: `no process ${pid}` };
  const commandLine = commandLineOf(pid);
  if (commandLine !== null && !isReactorServer(commandLine)) {
    return { kind: 'stale', pid, reason: `pid ${pid} is another program (${commandLine.join(' ').slice(0, 80)})` };
  }
  return { kind: 'running', pid };
}

/** The pid `text` holds (one positive integer, surrounding white space allowed), else null. */
function parsePid(text: string): number | null {
  const trimmed = text.trim();
  if (!/^\d{1,10}$/.test(trimmed)) return null;
  const pid = Number(trimmed);
  // 0 and negative numbers would name process groups to process.kill().
  return pid >= 1 && pid <= 2 ** 31 - 1 ? pid : null;
}

/**
 * Whether process `pid` exists and has not ended: a zombie (ended, not yet reaped by its
 * parent) counts as gone. A process of another user (EPERM) exists.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  return !isZombie(pid);
}

function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "PID (COMMAND) STATE ...": the command may hold spaces and parentheses, the last ')' ends it.
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

/**
 * The arguments process `pid` was started with, from /proc; null where that cannot be known
 * (no /proc, or not readable), and then a live process counts as ours: better to refuse a start
 * than to run two servers on one pid file.
 */
function commandLineOf(pid: number): string[] | null {
  if (!existsSync('/proc/self/cmdline')) return null;
  let raw: string;
  try {
    raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return null;
  }
  return raw.split('\0').filter((arg) => arg !== '');
}

/**
 * Whether a command line runs this CLI: its entry `cli/main.js`, the installed command
 * `reactor-server` (a link to it, which the kernel passes to node as invoked), or the script
 * this very process was started as.
 */
function isReactorServer(commandLine: readonly string[]): boolean {
  const self = process.argv[1];
  return commandLine.some((arg) => /(^|[\\/])cli[\\/]main\.js$/.test(arg) || basename(arg) === 'reactor-server' || arg === self);
}

/**
 * Writes `pid` to `file` at once or not at all: a temporary file beside it, renamed over it, so
 * a reader never sees a half-written pid.
 */
export function writePidFile(file: string, pid = process.pid): void {
  const temporary = join(dirname(file), `.${basename(file)}.${pid}.tmp`);
  try {
    writeFileSync(temporary, `${pid}\n`, { mode: 0o644 });
    renameSync(temporary, file);
  } catch (err) {
    try {
      unlinkSync(temporary);
    } catch {
      // never written, or already renamed
    }
    throw err;
  }
}

/**
 * Removes `file` if it still holds `pid`: a file another server has written since is left alone.
 * Synchronous, for the process's 'exit' event. Never throws.
 */
export function removePidFile(file: string, pid = process.pid): void {
  try {
    if (parsePid(readFileSync(file, 'utf8')) === pid) unlinkSync(file);
  } catch {
    // gone already, or not ours to remove
  }
}
