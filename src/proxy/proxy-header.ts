/**
 * What a PROXY protocol header says (HAProxy's proxy-protocol.txt, versions 1 and 2): the
 * connection a proxy accepted on behalf of a client, told to the server it forwards it to.
 * The parser, the reader and the encoder beside this file all speak these types.
 */
import type { ProxyProtocolError } from '../core/errors.js';

export type ProxyVersion = 1 | 2;

/**
 * `proxy`: the connection is relayed for a client, whose addresses the header gives. `local`
 * (version 2 only): the proxy opened it itself (a health check); serve it with the socket's
 * own addresses.
 */
export type ProxyCommand = 'proxy' | 'local';

/**
 * The relayed connection's protocol and address family. `unspec`: not said (version 1
 * `UNKNOWN`, version 2 `AF_UNSPEC`); the header carries no addresses and the socket's own
 * apply.
 */
export type ProxyFamily = 'tcp4' | 'tcp6' | 'udp4' | 'udp6' | 'unix-stream' | 'unix-dgram' | 'unspec';

/**
 * One end of the relayed connection. IPv4 and IPv6 addresses are written as Node.js writes
 * `socket.remoteAddress` (`192.0.2.1`, `2001:db8::1`, `::ffff:192.0.2.1`). For a UNIX socket,
 * `address` is its path (an abstract socket's name with `@` in front) and `port` is 0.
 */
export interface ProxyEndpoint {
  address: string;
  port: number;
}

/** One type-length-value entry of a version 2 header, as it was sent. */
export interface ProxyTlv {
  type: number;
  value: Buffer;
}

/**
 * PP2_TYPE_SSL: how the client reached the proxy over TLS. The flags are HAProxy's; `verified`
 * is true only when the client presented a certificate and it verified (`verifyResult` 0 alone
 * is what HAProxy sends when there was no certificate at all).
 */
export interface ProxySslInfo {
  /** The PP2_CLIENT_* bit field as sent. */
  client: number;
  /** PP2_CLIENT_SSL: the client connected over SSL/TLS. */
  tls: boolean;
  /** PP2_CLIENT_CERT_CONN: the client presented a certificate on this connection. */
  certificateInConnection: boolean;
  /** PP2_CLIENT_CERT_SESS: the client presented a certificate at least once in this TLS session. */
  certificateInSession: boolean;
  /** The verify field: 0 when a presented certificate verified. */
  verifyResult: number;
  /** A certificate was presented (on the connection or the session) and `verifyResult` is 0. */
  verified: boolean;
  /** PP2_SUBTYPE_SSL_VERSION, such as `TLSv1.3`. */
  version?: string;
  /** PP2_SUBTYPE_SSL_CN: the client certificate's common name. */
  commonName?: string;
  /** PP2_SUBTYPE_SSL_CIPHER, such as `ECDHE-RSA-AES128-GCM-SHA256`. */
  cipher?: string;
  /** PP2_SUBTYPE_SSL_SIG_ALG: how the proxy's certificate is signed, such as `RSA-SHA256`. */
  signatureAlgorithm?: string;
  /** PP2_SUBTYPE_SSL_KEY_ALG: the proxy's certificate's key, such as `RSA2048`. */
  keyAlgorithm?: string;
  /** PP2_SUBTYPE_SSL_GROUP: the key exchange group, such as `secp256r1`. */
  group?: string;
  /** PP2_SUBTYPE_SSL_SIG_SCHEME, such as `rsa_pss_rsae_sha256`. */
  signatureScheme?: string;
  /** PP2_SUBTYPE_SSL_CLIENT_CERT: the client certificate, DER. */
  clientCertificate?: Buffer;
}

/** The TLVs of a version 2 header: the registered ones decoded, and every one as it came. */
export interface ProxyTlvs {
  /** PP2_TYPE_ALPN: the protocol the client negotiated with the proxy (`h2`, ...). */
  alpn?: string;
  /** PP2_TYPE_AUTHORITY: the host name the client asked for (TLS SNI), UTF-8. */
  authority?: string;
  /** PP2_TYPE_UNIQUE_ID: the proxy's id for the connection, up to 128 bytes. */
  uniqueId?: Buffer;
  /** PP2_TYPE_NETNS: the network namespace the proxy accepted the connection in. */
  netns?: string;
  /** PP2_TYPE_SSL. */
  ssl?: ProxySslInfo;
  /** True when a PP2_TYPE_CRC32C TLV was present (and matched: a mismatch refuses the header). */
  checksummed: boolean;
  /** Every TLV in the order sent, the decoded ones, NOOP and CRC32C included. */
  raw: readonly ProxyTlv[];
}

export interface ProxyHeader {
  version: ProxyVersion;
  command: ProxyCommand;
  /** As the header declares it; with `local` it is informational only. */
  family: ProxyFamily;
  /** The client's end; present only for the `proxy` command with a family other than `unspec`. */
  source?: ProxyEndpoint;
  /** The end the client connected to (the proxy's listener); present when `source` is. */
  destination?: ProxyEndpoint;
  /** Version 2 TLVs; empty for version 1. */
  tlvs: ProxyTlvs;
}

/** The result of parsing bytes that should start with a PROXY header. */
export type ProxyParseResult =
  /** The bytes so far are a valid beginning: more are needed. */
  | { readonly status: 'incomplete' }
  /** A whole header; the application's bytes start at `consumed`. */
  | { readonly status: 'done'; readonly header: ProxyHeader; readonly consumed: number }
  /** Not a valid header, whatever follows. */
  | { readonly status: 'invalid'; readonly error: ProxyProtocolError };

/** Registered TLV types (PP2_TYPE_*) of version 2. */
export const PP2_TYPE = Object.freeze({
  ALPN: 0x01,
  AUTHORITY: 0x02,
  CRC32C: 0x03,
  NOOP: 0x04,
  UNIQUE_ID: 0x05,
  SSL: 0x20,
  NETNS: 0x30,
});

/** Sub-TLV types (PP2_SUBTYPE_SSL_*) inside PP2_TYPE_SSL. */
export const PP2_SUBTYPE_SSL = Object.freeze({
  VERSION: 0x21,
  CN: 0x22,
  CIPHER: 0x23,
  SIG_ALG: 0x24,
  KEY_ALG: 0x25,
  GROUP: 0x26,
  SIG_SCHEME: 0x27,
  CLIENT_CERT: 0x28,
});

/** Bits of PP2_TYPE_SSL's client field. */
export const PP2_CLIENT = Object.freeze({
  SSL: 0x01,
  CERT_CONN: 0x02,
  CERT_SESS: 0x04,
});

/** The 12 bytes every version 2 header starts with. */
export const PROXY_V2_SIGNATURE: Readonly<Uint8Array> = Uint8Array.of(0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a);

/** `PROXY `: how a version 1 header starts. */
export const PROXY_V1_PREFIX: Readonly<Uint8Array> = Uint8Array.of(0x50, 0x52, 0x4f, 0x58, 0x59, 0x20);

/** The longest version 1 line, CRLF included (the specification's worst case). */
export const PROXY_V1_MAX_BYTES = 107;

/** The fixed part of a version 2 header: signature, version and command, family, length. */
export const PROXY_V2_FIXED_BYTES = 16;

/** The largest version 2 header there can be: 16 bytes and a 16-bit length. */
export const PROXY_V2_MAX_BYTES = PROXY_V2_FIXED_BYTES + 0xffff;

/**
 * The default bound on a version 2 header (TLVs included): HAProxy's own buffer size, so that
 * whatever it sends fits, while a connection that never finishes its header holds no more.
 */
export const DEFAULT_MAX_PROXY_HEADER_BYTES = 16384;

/** The smallest bound allowed: a version 2 header with two UNIX addresses and no TLV. */
export const MIN_MAX_PROXY_HEADER_BYTES = PROXY_V2_FIXED_BYTES + 216;
