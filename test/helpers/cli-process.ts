/**
 * The CLI (or another script) in a child process: started with an environment of our choosing
 * and, where asked, a lower file-descriptor limit; its stdout kept line by line, its JSON log
 * lines parsed, its exit awaited. No tests here and no side effects on import:
 * `node --test build/test/` also loads this module.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The compiled CLI, as `npm start` runs it. */
export const CLI_PATH = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

/** This process's environment without any REACTOR_* variable (so the runner's cannot leak in), plus `extra`. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('REACTOR_')) env[key] = value;
  return { ...env, ...extra };
}

/** One pino log line as the server writes it (JSON, since stdout is a pipe). */
export interface LogEntry {
  level: number;
  time: number;
  pid: number;
  msg: string;
  [field: string]: unknown;
}

/** The line as a LogEntry, or null when it is not one (the ready line, say). */
export function parseLogLine(line: string): LogEntry | null {
  if (!line.startsWith('{')) return null;
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const entry = value as Record<string, unknown>;
  if (typeof entry.level !== 'number' || typeof entry.time !== 'number' || typeof entry.pid !== 'number' || typeof entry.msg !== 'string') return null;
  return entry as LogEntry;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface NodeProcessOptions {
  /** Added to this process's environment, whose REACTOR_* variables are left out. */
  env?: Record<string, string>;
  /** The child's soft limit on open files (`ulimit -n`). */
  fdLimit?: number;
  /** Arguments for node itself, before the script (`--import`, say). */
  nodeArgs?: readonly string[];
  /** 'pipe' to write to the child's stdin (`child.stdin`); default 'ignore'. */
  stdin?: 'ignore' | 'pipe';
}

export interface NodeProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Settles when the process has exited and its output pipes are closed (no descriptor left behind). */
  readonly exited: Promise<Exit>;
  /** Complete stdout lines so far (and the last, unterminated one once the process has exited). */
  lines(): string[];
  stdout(): string;
  stderr(): string;
  /** Both streams so far, for failure messages. */
  output(): string;
  /** The first stdout line (already printed or still to come) `match` accepts; rejects on timeout or exit. */
  waitForLine(match: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  /** Like waitForLine, for JSON log lines. */
  waitForLog(match: (entry: LogEntry) => boolean, timeoutMs?: number): Promise<LogEntry>;
  /** Resolves once `match` accepts all of stderr so far; rejects on timeout or exit. */
  waitForStderr(match: (stderr: string) => boolean, timeoutMs?: number): Promise<void>;
  /** Sends `signal` (default SIGTERM) if the process still runs; never a second one after it exited. */
  kill(signal?: NodeJS.Signals): void;
  /** Sends `signal` (default SIGTERM) if the process still runs and resolves with how it exited. */
  stop(signal?: NodeJS.Signals): Promise<Exit>;
}

/** Runs `node ...nodeArgs ...argv` with stdout and stderr collected; `argv` starts with the script. */
export function spawnNode(argv: readonly string[], options: NodeProcessOptions = {}): NodeProcess {
  const nodeArgv = [...(options.nodeArgs ?? []), ...argv];
  const spawnOptions = { stdio: [options.stdin ?? 'ignore', 'pipe', 'pipe'] as ['ignore' | 'pipe', 'pipe', 'pipe'], env: cleanEnv(options.env) };
  const child =
    options.fdLimit === undefined
      ? spawn(process.execPath, nodeArgv, spawnOptions)
      : // "$0" "$@" passes node and its arguments through sh without any quoting; exec keeps the pid.
        spawn('sh', ['-c', `ulimit -n ${options.fdLimit} && exec "$0" "$@"`, process.execPath, ...nodeArgv], spawnOptions);

  const lines: string[] = [];
  let rawStdout = '';
  let partial = '';
  let stderr = '';
  let ended = false;
  const watchers = new Set<() => void>();
  const notify = (): void => {
    for (const watcher of [...watchers]) watcher();
  };
  child.stdout!.setEncoding('utf8').on('data', (text: string) => {
    rawStdout += text;
    const parts = (partial + text).split('\n');
    partial = parts.pop() ?? '';
    if (parts.length === 0) return;
    lines.push(...parts);
    notify();
  });
  child.stderr!.setEncoding('utf8').on('data', (text: string) => {
    stderr += text;
    notify();
  });
  // 'close' rather than 'exit': it also waits for the pipes.
  const exited = (once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>).then(([code, signal]) => {
    if (partial !== '') lines.push(partial);
    partial = '';
    ended = true;
    notify();
    return { code, signal };
  });
  const stdout = (): string => rawStdout;
  const output = (): string => `stdout:\n${stdout()}\nstderr:\n${stderr}`;

  /** Resolves with the first thing `find` finds, now or after some output to come. */
  const waitFor = <T>(find: () => T | undefined, what: string, timeoutMs: number): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const finish = (): void => {
        clearTimeout(timer);
        watchers.delete(check);
      };
      const check = (): void => {
        const found = find();
        if (found !== undefined) {
          finish();
          resolve(found);
        } else if (ended) {
          finish();
          reject(new Error(`the process exited before ${what}\n${output()}`));
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`no ${what} within ${timeoutMs} ms\n${output()}`));
      }, timeoutMs);
      watchers.add(check);
      check();
    });

  const kill = (signal: NodeJS.Signals = 'SIGTERM'): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  };
  return {
    child,
    pid: child.pid ?? -1,
    exited,
    lines: () => [...lines],
    stdout,
    stderr: () => stderr,
    output,
    waitForLine: (match, timeoutMs = 10_000) => waitFor(() => lines.find(match), 'a matching stdout line', timeoutMs),
    waitForLog: (match, timeoutMs = 10_000) =>
      waitFor(
        () => {
          for (const line of lines) {
            const entry = parseLogLine(line);
            if (entry !== null && match(entry)) return entry;
          }
          return undefined;
        },
        'a matching log line',
        timeoutMs,
      ),
    waitForStderr: (match, timeoutMs = 10_000) => waitFor(() => (match(stderr) ? true : undefined), 'the expected stderr', timeoutMs).then(() => undefined),
    kill,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      kill(signal);
      return exited;
    },
  };
}

export interface CliServer extends NodeProcess {
  readonly host: string;
  readonly port: number;
  /** The line the CLI printed once it was listening (it names the reactors and their mode). */
  readonly readyLine: string;
}

export interface CliOptions extends NodeProcessOptions {
  /** How long to wait for the ready line; default 10 s. */
  readyTimeoutMs?: number;
}

/** `listening on HOST:PORT` or `listening on [IPV6]:PORT`. */
const READY_LINE = /listening on \[?([^\]\s]+?)\]?:(\d+)/;

/** Runs `reactor-server start --port 0 ...args` and resolves once it prints its ready line. */
export async function startCli(args: readonly string[], options: CliOptions = {}): Promise<CliServer> {
  const server = spawnNode([CLI_PATH, 'start', '--port', '0', ...args], options);
  try {
    const readyLine = await server.waitForLine((line) => !line.startsWith('{') && line.includes('listening on'), options.readyTimeoutMs ?? 10_000);
    const match = READY_LINE.exec(readyLine);
    if (match === null) throw new Error(`unexpected ready line ${JSON.stringify(readyLine)}`);
    return { ...server, host: match[1] as string, port: Number(match[2]), readyLine };
  } catch (err) {
    await server.stop('SIGKILL');
    throw err;
  }
}

/**
 * Starts the CLI, runs `body` with it, and always stops it (SIGTERM). Only when `body` passed
 * does it assert the exit (code 0, no signal): a body that failed is reported as itself, not
 * masked by the exit of a server it left in a bad state, which is then killed.
 */
export async function withCli<T>(args: readonly string[], body: (server: CliServer) => Promise<T>, options: CliOptions = {}): Promise<T> {
  const server = await startCli(args, options);
  let result: T;
  try {
    result = await body(server);
  } catch (err) {
    await server.stop('SIGKILL');
    throw err;
  }
  assert.deepEqual(await server.stop(), { code: 0, signal: null }, `the CLI's exit on SIGTERM\n${server.output()}`);
  return result;
}

export interface CliResult extends Exit {
  stdout: string;
  stderr: string;
}

/**
 * Runs the CLI to completion and resolves with its exit code and output; never rejects on a
 * non-zero exit. A run that outlives `timeoutMs` is killed (SIGKILL) and reported with that signal.
 */
export async function runCli(args: readonly string[], options: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<CliResult> {
  const run = spawnNode([CLI_PATH, ...args], { env: options.env ?? {} });
  const timer = setTimeout(() => run.kill('SIGKILL'), options.timeoutMs ?? 10_000);
  try {
    const exit = await run.exited;
    return { ...exit, stdout: run.stdout(), stderr: run.stderr() };
  } finally {
    clearTimeout(timer);
  }
}

/** One bad setting, given as flags and, the same, as a config file. */
export interface BadSetting {
  /** Flags for `start` and `config`. */
  args: readonly string[];
  /** The same settings as a config file, for `validate`. */
  file: Record<string, unknown>;
  /**
   * The setting the refusal must name: a key (`start` says `invalid option KEY:`, `config` names
   * it, `validate` says `KEY:`), or a pattern all three must match.
   */
  key: string | RegExp;
}

/**
 * Asserts that `start` and `config` given `bad.args`, and `validate` given `bad.file` (written
 * as `dir`/reactor.json), each exit 1 naming the setting.
 */
export async function assertRefusedByEveryCommand(bad: BadSetting, dir: string): Promise<void> {
  const { args, file, key } = bad;
  const [startPattern, configPattern, validatePattern] = typeof key === 'string' ? [new RegExp(`invalid option ${key}:`), new RegExp(key), new RegExp(`${key}:`)] : [key, key, key];
  const start = await runCli(['start', '--port', '0', ...args]);
  assert.equal(start.code, 1, `start ${args.join(' ')}: ${start.stderr}`);
  assert.match(start.stderr, startPattern);
  const config = await runCli(['config', ...args]);
  assert.equal(config.code, 1, `config ${args.join(' ')}`);
  assert.match(config.stderr, configPattern);
  const path = join(dir, 'reactor.json');
  writeFileSync(path, JSON.stringify(file));
  const validate = await runCli(['validate', '-c', path]);
  assert.equal(validate.code, 1, `validate ${JSON.stringify(file)}: ${validate.stdout}`);
  assert.match(validate.stderr, validatePattern);
}
