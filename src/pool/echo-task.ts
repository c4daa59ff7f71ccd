/**
 * The default application's message handler as a task module: what runs on the thread pool
 * when `taskWorkers` is set without a `taskModule`. A handler module exports a function that
 * takes the message bytes and returns the reply (bytes, a string, or parts), or nothing.
 */
import { REPLY_PREFIX_BYTES } from './reply-prefix.js';

export default function echo(message: Uint8Array): Uint8Array {
  // One array that owns its memory, so the worker moves it back instead of copying it.
  const reply = new Uint8Array(REPLY_PREFIX_BYTES.length + message.length);
  reply.set(REPLY_PREFIX_BYTES, 0);
  reply.set(message, REPLY_PREFIX_BYTES.length);
  return reply;
}
