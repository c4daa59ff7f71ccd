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

/** How many bytes `payload` is on the wire, before any framing (a string counts as UTF-8). */
export function payloadByteLength(payload: Payload): number {
  if (typeof payload === 'string') return Buffer.byteLength(payload);
  if (payload instanceof Uint8Array) return payload.length;
  let bytes = 0;
  for (const part of payload) bytes += typeof part === 'string' ? Buffer.byteLength(part) : part.length;
  return bytes;
}
