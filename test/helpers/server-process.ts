import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

/** The compiled CLI, as `npm start` runs it. */
export const CLI_PATH = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface ServerProcess {
  readonly child: ChildProcess;
  readonly host: string;
  readonly port: number;
  /** Everything the server printed to stderr so far. */
  stderr(): string;
  /** Everything the server printed to stdout so far (the ready line, then its JSON logs). */
  stdout(): string;
  /** Sends `signal` (default SIGTERM) and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Runs `reactor-server start --port 0 ...args` in a child process (so the server has its own
 * file-descriptor limit) and resolves once it prints its ready line.
 */
export async function startServerProcess(args: string[] = [], script = CLI_PATH): Promise<ServerProcess> {
  const child = spawn(process.execPath, [script, 'start', '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const ready = new Promise<{ host: string; port: number }>((resolve, reject) => {
    child.stdout!.setEncoding('utf8').on('data', (text: string) => {
      stdout += text;
      const match = /listening on \[?([^\]\s]+?)\]?:(\d+)/.exec(stdout);
      if (match !== null) resolve({ host: match[1] as string, port: Number(match[2]) });
    });
    exited.then(([code]) => reject(new Error(`server exited with ${code} before it was ready: ${stderr}`)));
  });
  const { host, port } = await ready;
  return {
    child,
    host,
    port,
    stderr: () => stderr,
    stdout: () => stdout,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const [code] = await exited;
      return code;
    },
  };
}
