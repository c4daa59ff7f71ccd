/**
 * A real redis-server (the Debian package's) for the broker tests: started on a free port with
 * persistence off, in a temporary directory, stopped afterwards; killable and restartable on
 * the same port to play an outage. Plus a tiny RESP client for what the tests ask Redis
 * directly (PUBSUB NUMSUB). No tests here and no side effects on import.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './haproxy.js';
import { waitUntil } from './wait.js';

export interface RunningRedis {
  readonly port: number;
  /** `redis://127.0.0.1:PORT`, what `--broker` takes. */
  readonly url: string;
  output(): string;
  /** SIGKILL: an outage, as a crash or a lost host looks to the instances. */
  kill(): Promise<void>;
  /** Starts it again on the same port (empty: nothing persists). */
  restart(): Promise<void>;
  /** Stops it for good and removes its directory. */
  stop(): Promise<void>;
}

/** Sends one command (RESP) and resolves with the raw reply text. */
export function redisCommand(port: number, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let reply = '';
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => {
      reply += text;
      if (reply.endsWith('\r\n')) {
        socket.end();
        resolve(reply);
      }
    });
    socket.on('error', reject);
    socket.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);
  });
}

/** How many connections subscribe to `channel` (PUBSUB NUMSUB). */
export async function subscribers(port: number, channel: string): Promise<number> {
  const reply = await redisCommand(port, 'PUBSUB', 'NUMSUB', channel);
  const match = /:(\d+)\r\n$/.exec(reply);
  if (match === null) throw new Error(`unexpected PUBSUB NUMSUB reply ${JSON.stringify(reply)}`);
  return Number(match[1]);
}

/** Waits until `count` connections subscribe to `channel`. */
export async function waitForSubscribers(port: number, channel: string, count: number, timeoutMs = 10_000): Promise<void> {
  await waitUntil(async () => (await subscribers(port, channel)) === count, `${count} subscribers of ${channel}`, timeoutMs, 20);
}

/** The channel a topic travels on (database 0): `reactor:0:topic:NAME`. */
export function topicChannel(topic: string, db = 0): string {
  return `reactor:${db}:topic:${topic}`;
}

/** Starts redis-server on `port` (a free one by default); resolves once it answers PING. */
export async function startRedis(port?: number): Promise<RunningRedis> {
  const chosen = port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'reactor-redis-'));
  let output = '';
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  const launch = async (): Promise<void> => {
    const current = spawn('redis-server', ['--port', String(chosen), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = current;
    current.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    current.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    exited = new Promise<void>((resolve) => current.once('close', () => resolve()));
    await waitUntil(
      async () => current.exitCode === null && (await redisCommand(chosen, 'PING').catch(() => '')) === '+PONG\r\n',
      () => `redis-server did not start on ${chosen}:\n${output}`,
      10_000,
      20,
    );
  };
  const end = async (signal: NodeJS.Signals): Promise<void> => {
    const current = child as ChildProcess | null;
    if (current !== null && current.exitCode === null && current.signalCode === null) current.kill(signal);
    await exited;
  };
  try {
    await launch();
  } catch (err) {
    await end('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    port: chosen,
    url: `redis://127.0.0.1:${chosen}`,
    output: () => output,
    kill: () => end('SIGKILL'),
    restart: launch,
    stop: async () => {
      await end('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
