/**
 * CRC32C (Castagnoli, RFC 4960 appendix B), the checksum of the PROXY protocol's
 * PP2_TYPE_CRC32C TLV. zlib's crc32 (in node:zlib) is the other polynomial, so it is written
 * here: a byte-wise table is plenty for headers of a few hundred bytes, once per connection.
 */

/** The reflected Castagnoli polynomial. */
const POLYNOMIAL = 0x82f63b78;

const TABLE = (() => {
  const table = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLYNOMIAL : c >>> 1;
    table[n] = c;
  }
  return table;
})();

/**
 * The CRC32C of `data[from..to]`, continuing from `previous` (the CRC of the bytes before):
 * `crc32c(b, 0, b.length, crc32c(a))` is the CRC of `a` followed by `b`.
 */
export function crc32c(data: Uint8Array, from = 0, to = data.length, previous = 0): number {
  let c = ~previous;
  for (let i = from; i < to; i++) c = TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
