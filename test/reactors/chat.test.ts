/**
 * The chat example (examples/chat-server.ts, default export a factory) as the app of a group:
 * a message sent to one reactor reaches the clients of every reactor, byte-exact with its
 * `[client N] ` prefix, and never comes back to its sender.
 *
 * Join announcements cross reactors through the supervisor and may arrive before or after
 * other frames, even at clients that joined later: the readers here skip them wherever they
 * come, and fail on any other frame they did not expect.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ReactorGroup } from '../../src/index.js';
import { SeedClient } from '../helpers/seed-client.js';
import { closeAll, MODES, withGroup } from './helpers.js';

const CHAT_APP = new URL('../../examples/chat-server.js', import.meta.url);
const MIN_MEMBERS = 4;
/** Connecting stops here even if some reactor got no one (with hashing, 4 reactors need ~8). */
const MAX_MEMBERS = 64;

interface Member {
  readonly client: SeedClient;
  /** Its globalId, INSTANCE:N. */
  readonly id: string;
  /** The reactor that serves it: reactor i of n hands out ids i+1, i+1+n, ... */
  readonly reactor: number;
}

function relayed(from: Member, message: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`[client ${from.id}] `), message]);
}

async function join(port: number, reactors: number): Promise<Member> {
  const client = await SeedClient.connect(port);
  const welcome = (await client.readFrame()).toString('latin1');
  const match = /^\* you are client (\S+:(\d+))$/.exec(welcome);
  assert.ok(match !== null, `unexpected welcome ${JSON.stringify(welcome)}`);
  return { client, id: match[1] as string, reactor: (Number(match[2]) - 1) % reactors };
}

/**
 * Reads `member`'s frames up to `expected`, skipping only announcements that another member
 * joined; any other frame (a message it should not get, a second copy, its own message) fails.
 */
async function readUntil(member: Member, expected: Buffer, others: ReadonlySet<string>, what: string): Promise<void> {
  for (;;) {
    const frame = await member.client.readFrame();
    if (frame.equals(expected)) return;
    const join = /^\* client (\S+) joined$/.exec(frame.toString('latin1'));
    if (join !== null && others.has(join[1] as string) && join[1] !== member.id) continue;
    assert.fail(`client ${member.id} (reactor ${member.reactor}) got ${JSON.stringify(frame.toString('latin1'))} while waiting for ${what}`);
  }
}

async function chatAcross(group: ReactorGroup, port: number): Promise<void> {
  const count = group.size;
  const members: Member[] = [];
  try {
    const covered = new Set<number>();
    while (members.length < MIN_MEMBERS || covered.size < count) {
      assert.ok(members.length < MAX_MEMBERS, `${MAX_MEMBERS} clients did not reach all ${count} reactors: ${[...covered].join(', ')}`);
      const member = await join(port, count);
      members.push(member);
      covered.add(member.reactor);
    }
    const ids = new Set(members.map((m) => m.id));
    assert.equal(ids.size, members.length, 'every member has its own id');

    // The reactors agree about where the members landed: each accepted exactly those.
    const stats = await group.stats();
    assert.equal(stats.reactors.length, count);
    for (const [i, { stats: s }] of stats.reactors.entries()) {
      assert.ok(s.accepted >= 1, `reactor ${i} accepted no client`);
      assert.equal(s.accepted, members.filter((m) => m.reactor === i).length, `reactor ${i} accepted the members whose ids it gave`);
    }

    const a = members.find((m) => m.reactor === 0)!;
    const b = members.find((m) => m.reactor !== a.reactor)!;

    // A speaks: everybody else, on every reactor, hears it once and byte-exact.
    const fromA = Buffer.concat([Buffer.from(`hello from A on reactor ${a.reactor} `), Buffer.from([0, 0xff, 0xfe, 0xc3, 0x28])]);
    a.client.send(fromA);
    await Promise.all(members.filter((m) => m !== a).map((m) => readUntil(m, relayed(a, fromA), ids, `A's message`)));

    // B, on another reactor, answers: A hears it, and nothing of its own came back first.
    const fromB = Buffer.from(`hi A, B here on reactor ${b.reactor}`);
    b.client.send(fromB);
    await Promise.all(members.filter((m) => m !== b).map((m) => readUntil(m, relayed(b, fromB), ids, `B's message`)));

    // A broadcast from the group goes through the supervisor to every reactor after every relay
    // above: reading up to it shows no member got anything else (no copy back to A or B).
    const marker = Buffer.from('end of conversation');
    group.broadcast(marker);
    await Promise.all(members.map((m) => readUntil(m, marker, ids, 'the end marker')));
  } finally {
    await closeAll(members.map((m) => m.client));
  }
}

for (const { mode, skip } of MODES) {
  describe(`reactors: ${mode}, the chat example across reactors`, () => {
    for (const count of [2, 4]) {
      it(`delivers one client's message to the clients of all ${count} reactors, never back to the sender`, { skip, timeout: 30_000 }, () =>
        withGroup({ workers: count, reactorMode: mode, app: CHAT_APP }, chatAcross),
      );
    }
  });
}
