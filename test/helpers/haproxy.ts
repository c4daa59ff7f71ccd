/**
 * A real HAProxy (the Debian package's `haproxy` binary) in front of test backends: a TCP
 * frontend on a free port, round-robin over the backends, each sent the PROXY header of its
 * choice (or none), health-checked over HTTP. Started in the foreground (-db) with a generated config,
 * stopped with SIGTERM. No tests here and no side effects on import.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitUntil } from './wait.js';

export interface Backend {
  name: string;
  port: number;
  /** `send-proxy` (v1) or `send-proxy-v2`; `none` for a backend that takes plain connections. */
  proxy: 'send-proxy' | 'send-proxy-v2' | 'none';
  /** Where `GET /health` is answered (the server's metrics port). */
  healthPort: number;
}

export interface RunningHaproxy {
  readonly port: number;
  readonly child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/** A port nothing listens on right now. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** True once something accepts on `port`. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export function haproxyConfig(port: number, backends: readonly Backend[]): string {
  return [
    'global',
    '  maxconn 4096',
    'defaults',
    '  mode tcp',
    '  timeout connect 2s',
    '  timeout client 30s',
    '  timeout server 30s',
    // A connection refused by a backend that just closed its listener goes to another one.
    '  retries 3',
    '  option redispatch',
    'frontend front',
    `  bind 127.0.0.1:${port}`,
    '  default_backend reactors',
    'backend reactors',
    '  balance roundrobin',
    '  option httpchk',
    '  http-check send meth GET uri /health',
    '  http-check expect status 200',
    ...backends.map((b) => `  server ${b.name} 127.0.0.1:${b.port}${b.proxy === 'none' ? '' : ` ${b.proxy}`} check port ${b.healthPort} inter 100ms fall 1 rise 2`),
    '',
  ].join('\n');
}

/** Starts HAProxy in front of `backends`; resolves once its frontend accepts. */
export async function startHaproxy(backends: readonly Backend[]): Promise<RunningHaproxy> {
  const dir = mkdtempSync(join(tmpdir(), 'reactor-haproxy-'));
  const port = await freePort();
  const config = join(dir, 'haproxy.cfg');
  writeFileSync(config, haproxyConfig(port, backends));
  const child = spawn('haproxy', ['-db', '-f', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitUntil(async () => child.exitCode === null && (await accepts(port)), () => `haproxy did not start:\n${output}`, 10_000, 50);
  } catch (err) {
    await stop();
    throw err;
  }
  return { port, child, output: () => output, stop };
}
