/**
 * What only the cluster suite needs: instances of the CLI sharing a Redis broker, clients that
 * know which instance and reactor serve them, and readers that fail on anything unexpected.
 * No tests here and no side effects on import.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { startCli, type CliServer } from '../helpers/cli-process.js';
import { httpGet, scrape, type Sample } from '../helpers/metrics.js';
import { waitUntil } from '../helpers/wait.js';
import { WireClient } from '../helpers/wire-client.js';

export const BROKER_APP = fileURLToPath(new URL('../fixtures/broker-app.js', import.meta.url));
export const LINE = { codec: 'line' } as const;

export interface Instance {
  readonly name: string;
  readonly cli: CliServer;
  readonly port: number;
  readonly metricsUrl: string;
  readonly healthUrl: string;
  readonly workers: number;
}

/** `reactor-server start` as instance `name` on the broker at `brokerUrl`, with a metrics endpoint. */
export async function startInstance(name: string, brokerUrl: string, options: { workers?: number; app?: string; codec?: string; extra?: readonly string[] } = {}): Promise<Instance> {
  const workers = options.workers ?? 2;
  const args = [
    '--workers',
    String(workers),
    '--codec',
    options.codec ?? 'line',
    '--app',
    options.app ?? BROKER_APP,
    '--broker',
    brokerUrl,
    '--instance-id',
    name,
    '--metrics-port',
    '0',
    '--drain-timeout',
    '1',
    ...(options.extra ?? []),
  ];
  const cli = await startCli(args, { readyTimeoutMs: 20_000 });
  const metricsUrl = (await cli.waitForLog((e) => e.msg === 'metrics listening')).metrics as string;
  return { name, cli, port: cli.port, metricsUrl, healthUrl: metricsUrl.replace(/\/metrics$/, '/health'), workers };
}

/** A client of the broker app, and where it is served. */
export interface Member {
  readonly client: WireClient;
  /** Its connection's globalId, INSTANCE:N. */
  readonly id: string;
  readonly instance: string;
  readonly reactor: number;
}

export async function connectMember(instance: Instance): Promise<Member> {
  const client = await WireClient.connect(instance.port, LINE);
  const id = (await client.request('id')).toString().replace(/^id /, '');
  const [name, n] = id.split(':') as [string, string];
  assert.equal(name, instance.name, 'the globalId names its instance');
  return { client, id, instance: name, reactor: (Number(n) - 1) % instance.workers };
}

/** One member on each reactor of `instance` (connections that land on a covered reactor are closed). */
export async function membersOnEachReactor(instance: Instance): Promise<Member[]> {
  const byReactor = new Map<number, Member>();
  for (let tries = 0; byReactor.size < instance.workers; tries++) {
    assert.ok(tries < 64, `no connection reached every reactor of ${instance.name}`);
    const member = await connectMember(instance);
    if (byReactor.has(member.reactor)) await member.client.end();
    else byReactor.set(member.reactor, member);
  }
  return [...byReactor.values()].sort((a, b) => a.reactor - b.reactor);
}

export async function text(member: Member): Promise<string> {
  return (await member.client.read()).toString();
}

/** Asks `member` to run `command` and checks the app's reply (the next frame must be it). */
export async function ask(member: Member, command: string, reply = 'ok'): Promise<void> {
  assert.equal((await member.client.request(command)).toString(), reply, `${member.id}: reply to ${command}`);
}

/** Reads `member`'s next frames and checks they are exactly `expected`, in order. */
export async function expectFrames(member: Member, expected: readonly string[]): Promise<void> {
  for (const want of expected) assert.equal(await text(member), want, `${member.id} (reactor ${member.reactor})`);
}

/** Whether /health answers `body` (200 or not, as given). */
export async function waitForHealth(instance: Instance, match: (body: string, status: number) => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  let last = '';
  await waitUntil(
    async () => {
      const { status, body } = await httpGet(instance.healthUrl);
      last = `${status} ${body.trim()}`;
      return match(body, status);
    },
    () => `${instance.name} /health: ${what}; last ${last}`,
    timeoutMs,
    50,
  );
}

/** One sample of a broker series of `instance`. */
export async function brokerMetric(instance: Instance, name: string, labels: Record<string, string> = {}): Promise<number> {
  const samples: Sample[] = await scrape(instance.metricsUrl);
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  assert.equal(found.length, 1, `${instance.name}: one sample of ${name} ${JSON.stringify(labels)}`);
  return found[0]!.value;
}

export async function stopAll(instances: readonly (Instance | undefined)[]): Promise<void> {
  await Promise.all(instances.map((instance) => instance?.cli.stop('SIGKILL')));
}
