/**
 * 1,000 handshakes at once against the real CLI, four times over: half of them good clients
 * that get their reply, the rest plaintext, garbage records and peers that hang up
 * mid-handshake. Each bad one fails only itself and is counted by reason; afterwards the
 * server holds as many descriptors as before, and its memory does not grow from round to
 * round (JS heap and V8's external memory after a full GC). The server runs in its own process (so its
 * descriptors and memory are its own).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { REPLY_PREFIX } from '../../src/index.js';
import { suiteCertificates } from '../helpers/certificates.js';
import { withCli } from '../helpers/cli-process.js';
import { httpGet, parseMetrics, series } from '../helpers/metrics.js';
import { fdCount } from '../helpers/resources.js';
import { waitUntil } from '../helpers/wait.js';
import { HEAP_QUESTION } from '../fixtures/heap-app.js';

const HEAP_APP = fileURLToPath(new URL('../fixtures/heap-app.js', import.meta.url));

const certs = suiteCertificates();
const AT_ONCE = 1000;
const ROUNDS = 4;

/** Sends `text` over a new verified TLS connection; resolves with the reply's body, then closes. */
async function ask(port: number, text: string): Promise<string> {
  const socket = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca: certs.read(certs.caCert) });
  try {
    await once(socket, 'secureConnect');
    socket.write(text);
    let got = Buffer.alloc(0);
    while (got.length < 4 || got.length < 4 + got.readUInt32LE(0)) got = Buffer.concat([got, (await once(socket, 'data'))[0] as Buffer]);
    return got.subarray(4).toString();
  } finally {
    socket.destroy();
  }
}

/** A good client: handshake, one request, its exact reply, close. */
async function goodClient(port: number, i: number): Promise<void> {
  assert.equal(await ask(port, `client ${i}`), `${REPLY_PREFIX}client ${i}`);
}

/** A bad client: sends `bytes` (then FIN when `hangUp`), and waits until the connection is gone. */
async function badClient(port: number, bytes: Buffer, hangUp: boolean): Promise<void> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  socket.resume();
  await once(socket, 'connect');
  if (hangUp) socket.end(bytes);
  else socket.write(bytes);
  await once(socket, 'close');
}

const PLAINTEXT = Buffer.from('hello, is this TLS?\n');
const GARBAGE_RECORD = Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 0xde, 0xad, 0xbe, 0xef, 0x00]);
const HALF_CLIENT_HELLO = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00]);

function rssBytes(pid: number): number {
  const pages = Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]);
  return pages * 4096;
}

async function tlsCounters(metricsUrl: string): Promise<Record<string, number>> {
  const samples = parseMetrics((await httpGet(metricsUrl)).body);
  const counters: Record<string, number> = { handshakes: series(samples, 'reactor_tls_handshakes_total').reduce((a, s) => a + s.value, 0) };
  for (const s of series(samples, 'reactor_tls_handshake_failures_total')) counters[s.labels.reason as string] = (counters[s.labels.reason as string] ?? 0) + s.value;
  return counters;
}

describe('tls: 1,000 handshakes at once', { timeout: 240_000 }, () => {
  it(`${ROUNDS} rounds of ${AT_ONCE}: good clients answered, bad ones counted by reason; descriptors back to where they were, memory flat`, async (t) => {
    const args = ['--tls-cert', certs.serverCert, '--tls-key', certs.serverKey, '--metrics-port', '0', '--app', HEAP_APP];
    await withCli(args, async (server) => {
      const metricsUrl = (await server.waitForLog((e) => e.msg === 'metrics listening')).metrics as string;
      const baselineFds = fdCount(server.pid);
      const rssAfterRound: number[] = [];
      const heapAfterRound: number[] = [];
      const externalAfterRound: number[] = [];
      for (let round = 1; round <= ROUNDS; round++) {
        const clients: Promise<void>[] = [];
        for (let i = 0; i < AT_ONCE; i++) {
          switch (i % 8) {
            case 0:
              clients.push(badClient(server.port, PLAINTEXT, false));
              break;
            case 1:
              clients.push(badClient(server.port, GARBAGE_RECORD, false));
              break;
            case 2:
              clients.push(badClient(server.port, HALF_CLIENT_HELLO, true));
              break;
            default:
              clients.push(goodClient(server.port, i));
          }
        }
        const results = await Promise.allSettled(clients);
        const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
        assert.deepEqual(failed.map((r) => String(r.reason)).slice(0, 3), [], `round ${round}: ${failed.length} clients failed`);
        const expected = { handshakes: (AT_ONCE * 5) / 8, plaintext: AT_ONCE / 8, protocol: AT_ONCE / 8, closed: AT_ONCE / 8 };
        const counters = await waitUntil(
          async () => {
            const c = await tlsCounters(metricsUrl);
            return c.handshakes === expected.handshakes * round + heapAfterRound.length && c.plaintext === expected.plaintext * round && c.protocol === expected.protocol * round && c.closed === expected.closed * round ? c : null;
          },
          () => `round ${round}: counters never reached ${JSON.stringify(expected)} x ${round} (+ ${heapAfterRound.length} heap questions)`,
          20_000,
          200,
        );
        assert.equal(counters.timeout, 0);
        assert.equal(counters['bad-certificate'], 0);
        await waitUntil(() => fdCount(server.pid) <= baselineFds, () => `round ${round}: the server holds ${fdCount(server.pid)} descriptors, ${baselineFds} before`, 20_000, 100);
        rssAfterRound.push(rssBytes(server.pid));
        const [heap, external] = (await ask(server.port, HEAP_QUESTION)).split(' ').map(Number);
        heapAfterRound.push(heap as number);
        externalAfterRound.push(external as number);
      }
      // Rounds 1 and 2 grow the heap to its working size; compare the last with the second.
      const mb = (list: number[]): string => list.map((b) => `${(b / 2 ** 20).toFixed(1)} MB`).join(', ');
      const report = `server after each round, after a full GC: heap ${mb(heapAfterRound)}, external ${mb(externalAfterRound)}; RSS ${mb(rssAfterRound)}; descriptors ${baselineFds} before`;
      t.diagnostic(report);
      // After a full GC these are exact: keeping the 625 sockets of a round alive (or their
      // buffers) would hold megabytes. RSS is reported, not judged: it moves with the allocator
      // and the machine's load (+6 to +15 MB from round 2 to 4 in the runs here).
      assert.ok((heapAfterRound[ROUNDS - 1] as number) - (heapAfterRound[1] as number) < 1024 * 1024, report);
      assert.ok((externalAfterRound[ROUNDS - 1] as number) - (externalAfterRound[1] as number) < 1024 * 1024, report);
    }, { readyTimeoutMs: 20_000, nodeArgs: ['--expose-gc'] });
  });
});
