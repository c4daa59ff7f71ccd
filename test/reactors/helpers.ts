/**
 * What only the ReactorGroup tests need: the modes, many clients at once, a started group,
 * the fixtures' identity replies. The shared pieces are in test/helpers/. No tests here, and
 * no side effects on import: `node --test build/test/` also loads every module under a test
 * directory as a test file.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { REUSE_PORT_SUPPORT, ReactorGroup, supportsReusePort, type ReactorGroupOptions, type ReactorInfo, type ReactorMode } from '../../src/index.js';
import { processExists } from '../helpers/resources.js';
import { expectedReply, SeedClient } from '../helpers/seed-client.js';

/** Every scenario runs with this many reactors. */
export const REACTOR_COUNTS = [1, 2, 4] as const;

export const THREADS_SKIP = `needs SO_REUSEPORT (${REUSE_PORT_SUPPORT})`;

/** A mode to run the scenarios in, with the skip reason when this runtime cannot run it. */
export interface ModeCase {
  readonly mode: ReactorMode;
  /** Passed as the `skip` option of every test of the mode, so a skip is reported, never a pass. */
  readonly skip: string | false;
}

export const MODES: readonly ModeCase[] = [
  { mode: 'processes', skip: false },
  { mode: 'threads', skip: supportsReusePort() ? false : THREADS_SKIP },
];

/** What ReactorInfo.kind is for each mode. */
export const KIND: Readonly<Record<ReactorMode, ReactorInfo['kind']>> = { processes: 'process', threads: 'thread' };

/** A message unique to client `i`, with bytes that are not valid UTF-8 (the echo is byte-exact). */
export function messageFor(i: number, round = 0): Buffer {
  return Buffer.concat([Buffer.from(`client ${i} round ${round} `), Buffer.from([0, 0xff, 0xfe, i & 0xff, 0xc3, 0x28])]);
}

/**
 * Opens `count` connections at once and resolves when all are connected; they stay open
 * together. If one fails the others are destroyed before the error is thrown.
 */
export async function connectMany(port: number, count: number): Promise<SeedClient[]> {
  const attempts = await Promise.allSettled(Array.from({ length: count }, () => SeedClient.connect(port)));
  const clients = attempts.flatMap((attempt) => (attempt.status === 'fulfilled' ? [attempt.value] : []));
  const failed = attempts.find((attempt): attempt is PromiseRejectedResult => attempt.status === 'rejected');
  if (failed !== undefined) {
    await closeAll(clients);
    throw failed.reason;
  }
  return clients;
}

/** Destroys every client and waits until each socket has closed. */
export async function closeAll(clients: readonly SeedClient[]): Promise<void> {
  for (const client of clients) client.destroy();
  await Promise.all(clients.map((client) => client.closed));
}

/** Resolves when a connection to `port` is refused; fails if it is accepted. */
export async function assertRefused(port: number): Promise<void> {
  const code = await new Promise<string | undefined>((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(undefined);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code));
  });
  assert.equal(code, 'ECONNREFUSED', `port ${port} should refuse connections`);
}

/** Handles a worker thread keeps open in this process (its message port, the worker itself). */
export function workerHandleCount(): number {
  return process.getActiveResourcesInfo().filter((name) => name === 'MessagePort' || name === 'Worker').length;
}

/**
 * Asserts none of `reactors` is left: for processes each pid is gone (ESRCH); for threads no
 * more worker handles are open in this process than `baselineWorkerHandles` before the group.
 */
export function assertReactorsGone(mode: ReactorMode, reactors: readonly ReactorInfo[], baselineWorkerHandles: number): void {
  assert.ok(reactors.length > 0, 'there were reactors to check');
  if (mode === 'processes') {
    for (const reactor of reactors) assert.equal(processExists(reactor.id), false, `process ${reactor.id} (reactor ${reactor.index}) is still running`);
  } else {
    assert.ok(workerHandleCount() <= baselineWorkerHandles, `worker handles left: ${JSON.stringify(process.getActiveResourcesInfo())}`);
  }
}

/**
 * Runs `body` against a started group and always stops it (and asserts its reactors are gone)
 * afterwards, whatever `body` did.
 */
export async function withGroup(options: ReactorGroupOptions, body: (group: ReactorGroup, port: number) => Promise<void>): Promise<void> {
  const baseline = workerHandleCount();
  const group = new ReactorGroup({ port: 0, ...options });
  let port: number;
  try {
    port = (await group.start()).port;
  } catch (err) {
    await group.stop();
    throw err;
  }
  let failed = true;
  try {
    await body(group, port);
    failed = false;
  } finally {
    const reactors = group.reactors;
    await group.stop();
    if (!failed) assertReactorsGone(group.mode, reactors, baseline);
  }
}

/** What the fixtures answer to `whoami`: their tag, the connection id and the reactor's id. */
export interface Identity {
  tag: string;
  id: number;
  reactor: number;
}

export function parseIdentity(frame: Buffer): Identity {
  const text = frame.toString('latin1');
  const match = /^(\S+) id=(\d+) reactor=(\d+)$/.exec(text);
  assert.ok(match !== null, `not an identity reply: ${JSON.stringify(text)}`);
  return { tag: match[1] as string, id: Number(match[2]), reactor: Number(match[3]) };
}

/** Asks every client who it is talking to, all at once. */
export async function identify(clients: readonly SeedClient[]): Promise<Identity[]> {
  return (await Promise.all(clients.map((client) => client.request('whoami')))).map(parseIdentity);
}

/** Sends every client its own message at once and checks each gets the echo back byte-exact. */
export async function assertEchoes(clients: readonly SeedClient[], round = 0): Promise<void> {
  const replies = await Promise.all(clients.map((client, i) => client.request(messageFor(i, round))));
  replies.forEach((reply, i) => assert.deepEqual(reply, expectedReply(messageFor(i, round)), `reply to client ${i}, round ${round}`));
}
