/** What `Connection.send()` accepts: bytes, a UTF-8 string, or parts sent as one message. */
export type Payload = Uint8Array | string | readonly (Uint8Array | string)[];

/**
 * One value for a payload that can cross threads cheaply: a string stays a string, bytes become
 * one array that owns exactly its memory (cloning a view of a pooled Buffer would clone the
 * whole pool slab).
 */
export function flattenPayload(payload: Payload): Uint8Array | string {
  if (typeof payload === 'string') return payload;
  const parts = payload instanceof Uint8Array ? [payload] : payload.map((part) => (typeof part === 'string' ? Buffer.from(part) : part));
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
