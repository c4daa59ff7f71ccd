import { lstatSync, unlinkSync } from 'node:fs';
import type { Command } from 'commander';
import { DEFAULT_OPTIONS } from '../server/options.js';
import { askControl } from './control-client.js';
import type { StatusReport } from './control-protocol.js';
import { EXIT, addPidFileOption, findServer, formatSeconds } from './pid-file-option.js';
import { isAlive, removePidFile } from './pid-file.js';
import * as parse from './parsers.js';

interface StopFlags {
  pidFile: string;
  timeout?: number;
  force?: boolean;
}

/** Seconds `stop` waits beyond the server's drain timeout: the drain ends, then the process closes and exits. */
const STOP_MARGIN_SECONDS = 5;
/** How long to ask the server for its drain timeout before signalling it anyway. */
const ASK_TIMEOUT_MS = 1000;
/** How long a process has to be gone after SIGKILL. */
const KILL_WAIT_MS = 5000;
/** There is no event for the end of a process that is not our child: look this often. */
const POLL_MS = 50;

export function addStopCommand(program: Command): void {
  const command = program
    .command('stop')
    .description('stop the server of a pid file gracefully (SIGTERM: it drains, then exits) and wait until it is gone; exit 0 also when it was not running');
  addPidFileOption(command)
    .option(
      '-t, --timeout <seconds>',
      `seconds to wait for it to end (default: its drain timeout, asked on its control socket, plus ${STOP_MARGIN_SECONDS}; ${DEFAULT_OPTIONS.drainTimeout + STOP_MARGIN_SECONDS} when it does not answer)`,
      parse.seconds,
    )
    .option('--force', 'if it has not ended within the timeout, kill it (SIGKILL: open connections are reset) and remove its pid file and control socket')
    .action(async (flags: StopFlags) => {
      process.exitCode = await stop(flags);
    });
}

async function stop(flags: StopFlags): Promise<number> {
  const server = findServer(flags.pidFile);
  if (server.state === 'not-running') {
    process.stdout.write(`not running: ${server.reason}\n`);
    return EXIT.ok;
  }
  if (server.state === 'unknown') {
    process.stderr.write(`reactor-server: ${server.reason}\n`);
    return EXIT.failed;
  }
  const { pid } = server;
  // Its status says how long its drain may take, and whether a stop has begun: a second
  // SIGTERM during the drain would end it at once, so none is sent then.
  const status = await askControl(server.socketPath, { cmd: 'status' }, ASK_TIMEOUT_MS).catch((): StatusReport | null => null);
  const timeoutSeconds = flags.timeout ?? (status?.drainTimeoutSeconds ?? DEFAULT_OPTIONS.drainTimeout) + STOP_MARGIN_SECONDS;
  if (status?.draining === true) {
    process.stdout.write(`pid ${pid} is already stopping: waiting up to ${formatSeconds(timeoutSeconds)}\n`);
  } else {
    try {
      process.kill(pid, 'SIGTERM');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ESRCH') {
        process.stdout.write(`stopped: pid ${pid}\n`);
        return EXIT.ok;
      }
      process.stderr.write(`reactor-server: cannot signal pid ${pid}: ${code === 'EPERM' ? 'not permitted (another user\'s process)' : String(err)}\n`);
      return EXIT.failed;
    }
  }
  if (await gone(pid, timeoutSeconds * 1000)) {
    process.stdout.write(`stopped: pid ${pid}\n`);
    return EXIT.ok;
  }
  if (flags.force !== true) {
    process.stderr.write(`reactor-server: pid ${pid} still running after ${formatSeconds(timeoutSeconds)} (still draining); --timeout waits longer, --force kills it\n`);
    return EXIT.failed;
  }
  process.stderr.write(`reactor-server: warning: pid ${pid} did not stop within ${formatSeconds(timeoutSeconds)}: killing it (SIGKILL); its open connections are reset\n`);
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // ended meanwhile
  }
  if (!(await gone(pid, KILL_WAIT_MS))) {
    process.stderr.write(`reactor-server: pid ${pid} still there ${formatSeconds(KILL_WAIT_MS / 1000)} after SIGKILL\n`);
    return EXIT.failed;
  }
  // A killed server leaves its files behind: they would only say "stale" to the next command.
  removePidFile(flags.pidFile, pid);
  removeSocketFile(server.socketPath);
  process.stdout.write(`killed: pid ${pid}\n`);
  return EXIT.ok;
}

/** Resolves true once process `pid` is gone, false if it is still there after `timeoutMs`. */
async function gone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!isAlive(pid)) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, Math.min(POLL_MS, Math.max(1, deadline - Date.now()))));
  }
}

function removeSocketFile(path: string): void {
  try {
    if (lstatSync(path).isSocket()) unlinkSync(path);
  } catch {
    // none left
  }
}
