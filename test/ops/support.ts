/**
 * Shared pieces of the operations tests: running the CLI (to completion, or as a server whose
 * stdout is collected line by line), reading its JSON log lines, and scraping Prometheus text.
 * No tests here and no side effects on import: `node --test build/test/` also loads this module.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import type { Readable } from 'node:stream';
import { CLI_PATH } from '../helpers/server-process.js';

export { CLI_PATH };

/** This process's environment without any REACTOR_* variable (so the runner's cannot leak in), plus `extra`. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('REACTOR_')) env[key] = value;
  return { ...env, ...extra };
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the CLI to completion and resolves with its exit code and output; never rejects on a
 * non-zero exit. A run that outlives `timeoutMs` is killed (SIGKILL) and reported with that signal.
 */
export async function runCli(args: string[], options: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<CliResult> {
  const child = spawn(process.execPath, [CLI_PATH, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: cleanEnv(options.env) });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 10_000);
  try {
    const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
    return { code, signal, stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
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

export interface CliServer {
  readonly pid: number;
  readonly host: string;
  readonly port: number;
  /** Complete stdout lines so far. */
  lines(): string[];
  stderr(): string;
  /** Resolves with the first complete stdout line (already printed or still to come) matching; rejects on timeout or exit. */
  waitForLine(match: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  /** Like waitForLine, for JSON log lines. */
  waitForLog(match: (entry: LogEntry) => boolean, timeoutMs?: number): Promise<LogEntry>;
  /** Sends `signal` (default SIGTERM) and resolves once the process has exited and its output is all read. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Runs `reactor-server start --port 0 ...args` (like test/helpers/server-process.ts, but with an
 * environment of our choosing and every stdout line kept) and resolves once the ready line is out.
 */
export async function startCli(args: string[], options: { env?: Record<string, string>; readyTimeoutMs?: number } = {}): Promise<CliServer> {
  const child: ChildProcessByStdio<null, Readable, Readable> = spawn(process.execPath, [CLI_PATH, 'start', '--port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: cleanEnv(options.env),
  });
  let buffered = '';
  const lines: string[] = [];
  let stderr = '';
  const watchers = new Set<(line: string) => void>();
  child.stdout.setEncoding('utf8').on('data', (text: string) => {
    buffered += text;
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    for (const line of parts) {
      lines.push(line);
      for (const watcher of [...watchers]) watcher(line);
    }
  });
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const closed = once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
  let exited = false;
  void closed.then(() => (exited = true));

  const waitForLine = (match: (line: string) => boolean, timeoutMs = 5000): Promise<string> => {
    const found = lines.find(match);
    if (found !== undefined) return Promise.resolve(found);
    if (exited) return Promise.reject(new Error(`the CLI exited before printing the line; stdout: ${lines.join('\n')}; stderr: ${stderr}`));
    return new Promise<string>((resolve, reject) => {
      const done = (): void => {
        watchers.delete(watcher);
        clearTimeout(timer);
      };
      const watcher = (line: string): void => {
        if (!match(line)) return;
        done();
        resolve(line);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no matching stdout line within ${timeoutMs} ms; stdout so far:\n${lines.join('\n')}\nstderr: ${stderr}`));
      }, timeoutMs);
      watchers.add(watcher);
      void closed.then(() => {
        if (!watchers.has(watcher)) return;
        done();
        reject(new Error(`the CLI exited before printing the line; stdout: ${lines.join('\n')}; stderr: ${stderr}`));
      });
    });
  };

  const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    const [code, sig] = await closed;
    // The last line may lack its newline.
    if (buffered !== '') {
      lines.push(buffered);
      buffered = '';
    }
    return { code, signal: sig };
  };

  try {
    const ready = await waitForLine((line) => line.includes('listening on'), options.readyTimeoutMs ?? 10_000);
    const match = /listening on \[?([^\]\s]+?)\]?:(\d+) /.exec(ready);
    if (match === null) throw new Error(`unexpected ready line ${JSON.stringify(ready)}`);
    return {
      pid: child.pid ?? -1,
      host: match[1] as string,
      port: Number(match[2]),
      lines: () => [...lines],
      stderr: () => stderr,
      waitForLine,
      waitForLog: async (match, timeoutMs) => {
        const line = await waitForLine((l) => {
          const entry = parseLogLine(l);
          return entry !== null && match(entry);
        }, timeoutMs);
        return parseLogLine(line) as LogEntry;
      },
      stop,
    };
  } catch (err) {
    await stop('SIGKILL');
    throw err;
  }
}

/** A plain HTTP GET without keep-alive. */
export function httpGet(url: string, timeoutMs = 5000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (text: string) => (body += text));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

/** One sample of Prometheus text exposition. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/.exec(line);
    if (match === null) throw new Error(`not a Prometheus sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    for (const label of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[label[1] as string] = label[2] as string;
    samples.push({ name: match[1] as string, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The samples of metric `name` whose labels include `labels`. */
export function series(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): Sample[] {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

/** The value of the one sample of `name` with exactly these labels; undefined when absent. */
export function metric(samples: readonly Sample[], name: string, labels: Record<string, string>): number | undefined {
  const matches = samples.filter((s) => s.name === name && Object.keys(s.labels).length === Object.keys(labels).length && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (matches.length > 1) throw new Error(`${matches.length} samples of ${name} ${JSON.stringify(labels)}`);
  return matches[0]?.value;
}

/** Sum of every sample of `name`. */
export function total(samples: readonly Sample[], name: string): number {
  return series(samples, name).reduce((sum, s) => sum + s.value, 0);
}

/** Scrapes `url` and parses it; fails unless the answer is 200. */
export async function scrape(url: string): Promise<Sample[]> {
  const { status, body } = await httpGet(url);
  if (status !== 200) throw new Error(`GET ${url}: ${status} ${body}`);
  return parseMetrics(body);
}

/**
 * Polls `check` until it returns true or `timeoutMs` passes. Only for state of another process
 * that nothing can be awaited for.
 */
export async function pollUntil(check: () => Promise<boolean>, timeoutMs: number, what: string, intervalMs = 25): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** A port nothing listens on: bound, then released. */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Rejects with a clear message if `promise` takes longer than `ms`. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
