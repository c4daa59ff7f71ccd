/**
 * What `start --pid-file FILE` keeps beside the running server: the pid file, checked before
 * anything starts and written once the server listens, and the control socket. Both are
 * removed when the process exits, however it exits (only SIGKILL leaves them behind, and the
 * next `start` or `stop --force` replaces or removes them).
 */
import { accessSync, constants } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Logger } from 'pino';
import { startControlServer, type ControlHandlers, type ControlServer } from './control-server.js';
import { controlSocketPath, readPidFile, removePidFile, writePidFile, type PidFileState } from './pid-file.js';

/** The line `start` prints, and exits 1 with, when the pid file names a server that runs. */
export function alreadyRunning(pid: number, pidFile: string): string {
  return `reactor-server: already running (pid ${pid}, ${pidFile})\n`;
}

export class ServiceFiles {
  readonly socketPath: string;
  private control: ControlServer | null = null;
  private written = false;

  private constructor(readonly pidFile: string) {
    this.socketPath = controlSocketPath(pidFile);
    process.on('exit', this.removeAll);
  }

  /**
   * Checks `pidFile` before anything starts. A server it names still runs: says so on stderr and
   * exits 1. A stale file (its process gone, or the pid now another program's) is logged, and
   * replaced once this server listens. A directory that cannot be written exits 1 too.
   */
  static claim(pidFile: string, logger: Logger): ServiceFiles {
    // Absolute, so that what is written and later removed does not depend on the working directory.
    const path = resolve(pidFile);
    let state: PidFileState;
    try {
      state = readPidFile(path);
      accessSync(dirname(path), constants.W_OK);
    } catch (err) {
      process.stderr.write(`reactor-server: cannot use pid file ${path}: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    }
    if (state.kind === 'running') {
      process.stderr.write(alreadyRunning(state.pid, path));
      process.exit(1);
    }
    if (state.kind === 'stale') logger.warn({ pidFile: path, stalePid: state.pid, reason: state.reason }, 'stale pid file: replaced once listening');
    return new ServiceFiles(path);
  }

  /** Serves the control socket. @throws when it cannot (see startControlServer) */
  async listen(handlers: ControlHandlers): Promise<void> {
    this.control = await startControlServer(this.socketPath, handlers);
  }

  /**
   * Writes the pid file, now that the server listens and its control socket answers.
   * @returns null once written; the pid of another server that claimed the file while this one
   *   started (nothing written then)
   * @throws when the file cannot be written
   */
  publish(): number | null {
    const state = readPidFile(this.pidFile);
    if (state.kind === 'running') return state.pid;
    writePidFile(this.pidFile);
    this.written = true;
    return null;
  }

  /** Closes the control socket and removes both files (the pid file only if it still holds this pid). */
  async close(): Promise<void> {
    await this.control?.close();
    this.removeAll();
  }

  private readonly removeAll = (): void => {
    this.control?.removeSocketFile();
    if (this.written) removePidFile(this.pidFile);
  };
}
