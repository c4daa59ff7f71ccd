/**
 * Shared pieces of the benchmarks: build the C load generator, run servers and the generator
 * as separate processes (pinned to cores when taskset exists), parse results, take medians.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI = `${ROOT}build/src/cli/main.js`;
const LOADGEN_SOURCE = `${ROOT}bench/loadgen.c`;
const LOADGEN = `${ROOT}build/bench/loadgen`;
const REFSERVER_SOURCE = `${ROOT}bench/refserver.c`;
const REFSERVER = `${ROOT}build/bench/refserver`;

export const hasTaskset = spawnSync('taskset', ['-c', '0', 'true']).status === 0;

/**
 * Compiles bench/loadgen.c once (with OpenSSL, for `--tls`); returns its path, or null without
 * a C compiler.
 * @throws when the compiler is there but OpenSSL's headers or libraries are not
 */
export function loadgenPath(): string | null {
  return compiled(LOADGEN_SOURCE, LOADGEN, ['-lssl', '-lcrypto']);
}

/** Compiles bench/refserver.c, the C reference server, once; returns its path, or null without a C compiler. */
export function refserverPath(): string | null {
  return compiled(REFSERVER_SOURCE, REFSERVER, []);
}

/** `source` compiled with -O2 to `output` (once: an existing `output` is taken as is), or null without a C compiler. */
function compiled(source: string, output: string, libraries: string[]): string | null {
  if (existsSync(output)) return output;
  const cc = ['cc', 'gcc', 'clang'].find((name) => spawnSync(name, ['--version']).status === 0);
  if (cc === undefined) return null;
  mkdirSync(`${ROOT}build/bench`, { recursive: true });
  const build = spawnSync(cc, ['-O2', '-o', output, source, ...libraries], { encoding: 'utf8' });
  if (build.status !== 0) {
    const hint = /openssl|-lssl|-lcrypto/.test(build.stderr) ? ' (it needs OpenSSL: on Debian, apt-get install -y libssl-dev)' : '';
    throw new Error(`could not compile ${source.slice(ROOT.length)}${hint}:\n${build.stderr}`);
  }
  return output;
}

/** `command args`, run under `taskset -c cpus` when both are there. */
export function pinned(cpus: string | undefined, command: string, args: string[]): [string, string[]] {
  return cpus !== undefined && hasTaskset ? ['taskset', ['-c', cpus, command, ...args]] : [command, args];
}

export interface RunningServer {
  port: number;
  child: ChildProcess;
  /** Settles when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, then waits for the exit. */
  stop(): Promise<void>;
}

/**
 * Starts `node script ...args` (this process's Node.js) and waits for a line containing
 * `listening on HOST:PORT` (an IPv6 host in brackets); past that line the output is drained unread.
 */
export function startServer(script: string, args: string[], cpus?: string, env: NodeJS.ProcessEnv = process.env): Promise<RunningServer> {
  return startProgram(process.execPath, [script, ...args], cpus, env);
}

/**
 * Starts any server program (another runtime with its script, or a binary) and waits for its
 * `listening on HOST:PORT` line, as `startServer` does. Its standard error is kept until then
 * and passed on after: if it exits before that line, the error says what it printed.
 */
export async function startProgram(program: string, args: string[], cpus?: string, env: NodeJS.ProcessEnv = process.env): Promise<RunningServer> {
  const [command, argv] = pinned(cpus, program, args);
  const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe'], env });
  const exited = (once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>).then(([code, signal]) => ({ code, signal }));
  let errors = '';
  const keepErrors = (text: string): void => void (errors += text);
  child.stderr!.setEncoding('utf8').on('data', keepErrors);
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    const onData = (text: string): void => {
      out += text;
      const match = /listening on \[?[^\]\s]+?\]?:(\d+)/.exec(out);
      if (match === null) return;
      child.stdout!.off('data', onData).resume();
      resolve(Number(match[1]));
    };
    child.stdout!.setEncoding('utf8').on('data', onData);
    // 'close', not 'exit': by then its standard error has been read to the end.
    child.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
      const said = errors.trim() === '' ? '' : `: ${errors.trim()}`;
      reject(new Error(`server exited (${code ?? signal}) before it was ready${said}`));
    });
  });
  process.stderr.write(errors);
  child.stderr!.off('data', keepErrors).pipe(process.stderr);
  return {
    port,
    child,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Resident memory of a process, in bytes (Linux). */
export function rssBytes(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
}

/** Clock ticks per second of /proc's CPU times (USER_HZ). */
const TICKS_PER_SECOND = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/**
 * CPU time (user + system, seconds) used so far by process `pid` and every process under it,
 * all threads included (Linux): a cluster primary and its workers, or one process of threads.
 */
export function cpuSeconds(pid: number): number {
  let ticks = 0;
  const pending = [pid];
  while (pending.length > 0) {
    const current = pending.pop() as number;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${current}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // Fields after the parenthesised name: state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(fields[11]) + Number(fields[12]);
    for (const task of readdirSync(`/proc/${current}/task`, { withFileTypes: false })) {
      try {
        for (const child of readFileSync(`/proc/${current}/task/${task}/children`, 'utf8').trim().split(' ')) if (child !== '') pending.push(Number(child));
      } catch {
        // a thread that ended meanwhile
      }
    }
  }
  return ticks / TICKS_PER_SECOND;
}

/** How many descriptors a process has open (Linux). */
export function openDescriptors(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Both sides, in an order that alternates by round so the machine's drift favours neither. */
export function inTurn<T>(round: number, sides: readonly T[]): readonly T[] {
  return round % 2 === 0 ? sides : [...sides].reverse();
}

/**
 * One run of the C load generator against `port` (see bench/loadgen.c for the modes);
 * `extra` are more of its arguments, e.g. `--tls`.
 */
export function drive(port: number, mode: string, connections: number | string, seconds: number | string, cpus?: string, extra: string[] = []): Record<string, number | string> {
  return loadgen(['-p', String(port), '-c', String(connections), '-d', String(seconds), '--mode', mode, ...extra], cpus);
}

/** Runs the load generator and parses its key=value summary line. */
export function loadgen(args: string[], cpus?: string): Record<string, number | string> {
  const [command, argv] = pinned(cpus, requireLoadgen(), args);
  return summary(spawnSync(command, argv, { encoding: 'utf8' }).stdout);
}

export interface LoadgenRun {
  /** Its summary, once it has exited. */
  readonly result: Promise<Record<string, number | string>>;
  /** Has it exited? */
  readonly exited: boolean;
  /** Ends the run early (SIGTERM); it still prints its summary. */
  stop(): void;
}

/** Starts the load generator without waiting for it, so the server can be sampled meanwhile. */
export function startLoadgen(args: string[], cpus?: string): LoadgenRun {
  const [command, argv] = pinned(cpus, requireLoadgen(), args);
  const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  let exited = false;
  child.stdout.setEncoding('utf8').on('data', (text: string) => (out += text));
  const result = (once(child, 'close') as Promise<unknown>).then(() => {
    exited = true;
    return summary(out);
  });
  return {
    result,
    get exited() {
      return exited;
    },
    stop: () => void child.kill('SIGTERM'),
  };
}

function requireLoadgen(): string {
  const path = loadgenPath();
  if (path === null) throw new Error('no C compiler for the load generator');
  return path;
}

/** The load generator's key=value summary line. @throws when it counted wrong replies */
function summary(stdout: string): Record<string, number | string> {
  const line = stdout.trim().split('\n').pop() ?? '';
  const fields: Record<string, number | string> = {};
  for (const pair of line.split(' ')) {
    const [key, value] = pair.split('=');
    if (key !== undefined && value !== undefined) fields[key] = Number.isNaN(Number(value)) ? value : Number(value);
  }
  if (fields.bad !== 0 && fields.bad !== undefined) throw new Error(`wrong replies: ${line}`);
  return fields;
}

/**
 * Waits until `pid` has `descriptors` open and has used no more than 5 % of a core for half a
 * second (two clock ticks): every connection accepted, its handshake and reply done. False if
 * `run` ended first.
 */
export async function quiescent(pid: number, descriptors: number, run: { readonly exited: boolean }): Promise<boolean> {
  const QUIET_MS = 500;
  let last = cpuSeconds(pid);
  while (!run.exited) {
    await sleep(QUIET_MS);
    const now = cpuSeconds(pid);
    if (openDescriptors(pid) >= descriptors && now - last <= (0.05 * QUIET_MS) / 1000) return true;
    last = now;
  }
  return false;
}

/**
 * Bytes of resident memory one held connection costs a fresh server from `start`: the load
 * generator holds `count` connections (one round trip each; `extra` are more of its arguments,
 * e.g. `--tls`), and the server's RSS is sampled once it has accepted them all and gone quiet,
 * whatever its speed; the RSS it gained, over the connections held.
 * @throws when fewer than 99 % of them were held (a connect burst can lose the odd SYN to a full
 * accept queue; more is a fault)
 */
export async function memoryPerHeldConnection(start: () => Promise<RunningServer>, count: number, cpus?: string, extra: string[] = []): Promise<number> {
  const server = await start();
  const pid = server.child.pid as number;
  try {
    const idle = rssBytes(pid);
    const idleDescriptors = openDescriptors(pid);
    const run = startLoadgen(['-p', String(server.port), '-c', String(count), '-d', '120', '--mode', 'hold', ...extra], cpus);
    let settled = false;
    let held = 0;
    try {
      settled = await quiescent(pid, idleDescriptors + Math.ceil(count * 0.99), run);
      held = rssBytes(pid);
    } finally {
      run.stop();
    }
    const alive = Number((await run.result).alive);
    if (!settled || !(alive >= count * 0.99)) throw new Error(`only ${alive} of ${count} connections held`);
    return (held - idle) / alive;
  } finally {
    await server.stop();
  }
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}
