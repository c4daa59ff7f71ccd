/**
 * Shared pieces of the benchmarks: build the C load generator, run servers and the generator
 * as separate processes (pinned to cores when taskset exists), parse results, take medians.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI = `${ROOT}build/src/cli/main.js`;
const LOADGEN_SOURCE = `${ROOT}bench/loadgen.c`;
const LOADGEN = `${ROOT}build/bench/loadgen`;

export const hasTaskset = spawnSync('taskset', ['-c', '0', 'true']).status === 0;

/** Compiles bench/loadgen.c once; returns its path, or null without a C compiler. */
export function loadgenPath(): string | null {
  if (existsSync(LOADGEN)) return LOADGEN;
  const cc = ['cc', 'gcc', 'clang'].find((name) => spawnSync(name, ['--version']).status === 0);
  if (cc === undefined) return null;
  mkdirSync(`${ROOT}build/bench`, { recursive: true });
  execFileSync(cc, ['-O2', '-o', LOADGEN, LOADGEN_SOURCE]);
  return LOADGEN;
}

function pinned(cpus: string | undefined, command: string, args: string[]): [string, string[]] {
  return cpus !== undefined && hasTaskset ? ['taskset', ['-c', cpus, command, ...args]] : [command, args];
}

export interface RunningServer {
  port: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Starts `node script ...args` and waits for a line containing `listening on HOST:PORT`. */
export async function startServer(script: string, args: string[], cpus?: string): Promise<RunningServer> {
  const [command, argv] = pinned(cpus, process.execPath, [script, ...args]);
  const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (text: string) => {
      out += text;
      const match = /listening on \S+:(\d+)/.exec(out);
      if (match !== null) resolve(Number(match[1]));
    });
    child.once('exit', (code) => reject(new Error(`server exited (${code}) before it was ready`)));
  });
  return {
    port,
    child,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

/** Runs the load generator and parses its key=value summary line. */
export function loadgen(args: string[], cpus?: string): Record<string, number | string> {
  const path = loadgenPath();
  if (path === null) throw new Error('no C compiler for the load generator');
  const [command, argv] = pinned(cpus, path, args);
  const result = spawnSync(command, argv, { encoding: 'utf8' });
  const line = result.stdout.trim().split('\n').pop() ?? '';
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
