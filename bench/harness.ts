/**
 * Shared pieces of the benchmarks: build the C load generator, run servers and the generator
 * as separate processes (pinned to cores when taskset exists), parse results, take medians.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI = `${ROOT}build/src/cli/main.js`;
const LOADGEN_SOURCE = `${ROOT}bench/loadgen.c`;
const LOADGEN = `${ROOT}build/bench/loadgen`;

export const hasTaskset = spawnSync('taskset', ['-c', '0', 'true']).status === 0;

/**
 * Compiles bench/loadgen.c once (with OpenSSL, for `--tls`); returns its path, or null without
 * a C compiler.
 * @throws when the compiler is there but OpenSSL's headers or libraries are not
 */
export function loadgenPath(): string | null {
  if (existsSync(LOADGEN)) return LOADGEN;
  const cc = ['cc', 'gcc', 'clang'].find((name) => spawnSync(name, ['--version']).status === 0);
  if (cc === undefined) return null;
  mkdirSync(`${ROOT}build/bench`, { recursive: true });
  const build = spawnSync(cc, ['-O2', '-o', LOADGEN, LOADGEN_SOURCE, '-lssl', '-lcrypto'], { encoding: 'utf8' });
  if (build.status !== 0) {
    const hint = /openssl|-lssl|-lcrypto/.test(build.stderr) ? ' (it needs OpenSSL: on Debian, apt-get install -y libssl-dev)' : '';
    throw new Error(`could not compile bench/loadgen.c${hint}:\n${build.stderr}`);
  }
  return LOADGEN;
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
 * Starts `node script ...args` and waits for a line containing `listening on HOST:PORT`
 * (an IPv6 host in brackets); past that line the output is drained unread.
 */
export async function startServer(script: string, args: string[], cpus?: string, env: NodeJS.ProcessEnv = process.env): Promise<RunningServer> {
  const [command, argv] = pinned(cpus, process.execPath, [script, ...args]);
  const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'inherit'], env });
  const exited = (once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>).then(([code, signal]) => ({ code, signal }));
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
    void exited.then(({ code, signal }) => reject(new Error(`server exited (${code ?? signal}) before it was ready`)));
  });
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

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}
