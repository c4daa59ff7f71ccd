/**
 * What the default application puts in front of every reply. Here, beside the echo task, so
 * that the task (run on the pool's threads) and ReactorServer (which echoes on the loop) share
 * it without the pool reaching up into the server.
 */
export const REPLY_PREFIX = '[Server Reply]: ';
export const REPLY_PREFIX_BYTES = Buffer.from(REPLY_PREFIX);
