/**
 * A CPU-heavy message handler for benchmarks: 2,000 rounds of SHA-256 over the message, then
 * the echo reply (so load generators can still verify every reply byte for byte).
 */
import { createHash } from 'node:crypto';

const PREFIX = Buffer.from('[Server Reply]: ');
const ROUNDS = 2000;

export default function sha256Echo(message: Uint8Array): Uint8Array {
  let digest: Uint8Array = message;
  for (let i = 0; i < ROUNDS; i++) digest = createHash('sha256').update(digest).digest();
  // The work must not be optimised away: fold the digest into nothing observable but keep it live.
  if (digest.length !== 32) throw new Error('unexpected digest length');
  const reply = new Uint8Array(PREFIX.length + message.length);
  reply.set(PREFIX, 0);
  reply.set(message, PREFIX.length);
  return reply;
}
