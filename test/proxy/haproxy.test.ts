/**
 * Behind a real HAProxy: two backends (the CLI, PROXY protocol required from HAProxy's address
 * only), one sent `send-proxy-v2`, the other `send-proxy`, both health-checked on /health.
 * Clients from different 127.0.0.x addresses are seen with their own address and port. A
 * SIGTERM on one backend turns its /health to 503; HAProxy takes it out, its open connections
 * are answered until they close, new connections go to the other, and no request goes
 * unanswered (a request whose connection closed before its reply is sent again, as a client of
 * any draining server must). Per-address limits count the clients HAProxy names, not HAProxy.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { REPLY_PREFIX } from '../../src/index.js';
import { startCli, type CliServer } from '../helpers/cli-process.js';
import { startHaproxy, type Backend, type RunningHaproxy } from '../helpers/haproxy.js';
import { httpGet } from '../helpers/metrics.js';
import { waitUntil } from '../helpers/wait.js';

const PEER_APP = fileURLToPath(new URL('../fixtures/peer-app.js', import.meta.url));

interface RunningBackend {
  server: CliServer;
  backend: Backend;
  healthUrl: string;
}

async function startBackend(name: string, proxy: Backend['proxy'], extra: string[] = []): Promise<RunningBackend> {
  const args = ['--app', PEER_APP, '--proxy-protocol', 'required', '--trusted-proxies', '127.0.0.1', '--metrics-port', '0', '--drain-timeout', '2', ...extra];
  const server = await startCli(args, { env: { PEER_APP_NAME: name } });
  const metrics = (await server.waitForLog((e) => e.msg === 'metrics listening')).metrics as string;
  const healthPort = Number(new URL(metrics).port);
  return { server, backend: { name, port: server.port, proxy, healthPort }, healthUrl: metrics.replace(/\/metrics$/, '/health') };
}

/** One request and its reply on `socket` (seed protocol); null when the connection closed first. */
async function request(socket: net.Socket, text: string): Promise<string | null> {
  return new Promise((resolve) => {
    let got = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      got = Buffer.concat([got, chunk]);
      if (got.length >= 4 && got.length >= 4 + got.readUInt32LE(0)) {
        cleanup();
        resolve(got.subarray(4, 4 + got.readUInt32LE(0)).toString());
      }
    };
    const onClose = (): void => {
      cleanup();
      resolve(null);
    };
    const cleanup = (): void => {
      socket.off('data', onData);
      socket.off('close', onClose);
    };
    socket.on('data', onData);
    socket.on('close', onClose);
    socket.write(text);
  });
}

async function open(port: number, localAddress: string): Promise<net.Socket> {
  const socket = net.connect({ port, host: '127.0.0.1', localAddress, noDelay: true });
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  return socket;
}

let backends: RunningBackend[] = [];
let haproxy: RunningHaproxy;

describe('behind HAProxy', { timeout: 120_000 }, () => {
  before(async () => {
    backends = [await startBackend('s1', 'send-proxy-v2'), await startBackend('s2', 'send-proxy')];
    haproxy = await startHaproxy(backends.map((b) => b.backend));
    // Both backends in rotation: a health check has passed on each.
    await waitUntil(
      async () => {
        const seen = new Set<string>();
        for (let i = 0; i < 6; i++) {
          const socket = await open(haproxy.port, '127.0.0.1');
          seen.add(((await request(socket, 'whoami')) ?? '').split(' ')[0] ?? '');
          socket.destroy();
        }
        return seen.size === 2;
      },
      () => `both backends never served:\n${haproxy.output()}`,
      15_000,
      100,
    );
  });
  after(async () => {
    await haproxy?.stop();
    await Promise.all(backends.map((b) => b.server.stop('SIGKILL')));
  });

  it('each client is seen with its own address and port, through v1 and v2 headers', async () => {
    const answers: { local: string; reply: string }[] = [];
    for (let i = 0; i < 8; i++) {
      const socket = await open(haproxy.port, `127.0.0.${20 + i}`);
      answers.push({ local: `${socket.localAddress}:${socket.localPort}`, reply: (await request(socket, 'whoami')) ?? 'closed' });
      socket.destroy();
    }
    for (const { local, reply } of answers) assert.match(reply, new RegExp(`^backend=s[12] peer=${local.replace(/\./g, '\\.')} proxy=127\\.0\\.0\\.1:\\d+$`));
    const byBackend = new Set(answers.map((a) => a.reply.split(' ')[0]));
    assert.deepEqual([...byBackend].sort(), ['backend=s1', 'backend=s2'], 'round robin over both (v2 to s1, v1 to s2)');
  });

  it('SIGTERM on one backend: /health says draining, HAProxy moves new connections to the other, every request is answered', async (t) => {
    const [s1] = backends as [RunningBackend, RunningBackend];
    let running = true;
    let answered = 0;
    let resent = 0;
    const wrong: string[] = [];
    const client = async (n: number): Promise<void> => {
      let socket = await open(haproxy.port, `127.0.0.${40 + n}`);
      for (let i = 0; running; i++) {
        const text = `client ${n} request ${i}`;
        let reply = await request(socket, text);
        while (reply === null) {
          // The connection closed before the reply (the backend drained it): again, on a new one.
          resent++;
          socket.destroy();
          socket = await open(haproxy.port, `127.0.0.${40 + n}`);
          reply = await request(socket, text);
        }
        if (reply === `${REPLY_PREFIX}${text}`) answered++;
        else wrong.push(reply);
      }
      socket.destroy();
    };
    const clients = Array.from({ length: 6 }, (_, n) => client(n));
    await waitUntil(() => answered > 200, 'clients under way');

    s1.server.kill('SIGTERM');
    const draining = await waitUntil(async () => {
      const health = await httpGet(s1.healthUrl).catch(() => null);
      return health !== null && health.status === 503 ? health : null;
    }, 'backend s1 reporting draining', 5000, 20);
    assert.equal(draining.body, 'draining\n');
    assert.deepEqual(await s1.server.exited, { code: 0, signal: null }, 's1 drained and exited cleanly');

    // s1 is gone: every new connection is served by s2.
    const after: string[] = [];
    for (let i = 0; i < 6; i++) {
      const socket = await open(haproxy.port, '127.0.0.1');
      after.push((await request(socket, 'whoami')) ?? 'closed');
      socket.destroy();
    }
    assert.ok(after.every((reply) => reply.startsWith('backend=s2 ')), after.join('\n'));
    const before = answered;
    await waitUntil(() => answered > before + 200, 'clients still served after s1 left');
    running = false;
    await Promise.all(clients);
    assert.deepEqual(wrong, []);
    assert.ok(answered > 400, String(answered));
    t.diagnostic(`${answered} requests answered; ${resent} sent again after their connection was drained`);
  });
});

describe('behind HAProxy: per-address limits count the clients, not the proxy', { timeout: 60_000 }, () => {
  let limited: RunningBackend;
  let front: RunningHaproxy;
  before(async () => {
    limited = await startBackend('s3', 'send-proxy-v2', ['--max-connections-per-ip', '2', '--log-level', 'debug']);
    front = await startHaproxy([limited.backend]);
  });
  after(async () => {
    await front?.stop();
    await limited?.server.stop('SIGKILL');
  });

  it('every connection comes from HAProxy, yet each client address gets its own two', async () => {
    const held: net.Socket[] = [];
    try {
      // Two clients, two connections each: all served, though HAProxy opened all four.
      for (const address of ['127.0.0.70', '127.0.0.71']) {
        for (let i = 0; i < 2; i++) {
          const socket = await open(front.port, address);
          assert.match((await request(socket, 'whoami')) ?? 'closed', new RegExp(`peer=${address.replace(/\./g, '\\.')}:`));
          held.push(socket);
        }
      }
      // A third from one of them is refused by the server (HAProxy then closes the client's side).
      const third = await open(front.port, '127.0.0.70');
      assert.equal(await request(third, 'whoami'), null);
      third.destroy();
      const refusal = await limited.server.waitForLog((e) => e.msg === 'connection rejected' && e.reason === 'per-ip');
      assert.match(String(refusal.peer), /^127\.0\.0\.70:\d+$/);
      // A third client is still served.
      const other = await open(front.port, '127.0.0.72');
      assert.match((await request(other, 'whoami')) ?? 'closed', /peer=127\.0\.0\.72:/);
      held.push(other);
    } finally {
      for (const socket of held) socket.destroy();
    }
  });
});
