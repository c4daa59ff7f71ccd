/** What the default application puts in front of every reply. */
export const REPLY_PREFIX = '[Server Reply]: ';
export const REPLY_PREFIX_BYTES = Buffer.from(REPLY_PREFIX);
