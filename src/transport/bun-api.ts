/**
 * The part of Bun's socket API the Bun transport and client use, declared here rather than by
 * a type package (whose globals would clash with Node's types in the same program). Shapes
 * follow Bun 1.3/1.4; only what this project calls is listed.
 */

/** A TCP (or TLS) socket from `Bun.listen` or `Bun.connect`; `data` is ours to set. */
export interface BunSocket<D = unknown> {
  data: D;
  /** Writes what the kernel takes now; returns that count (0 when none fits, -1 when closed). Nothing is buffered. */
  write(data: Uint8Array | string, byteOffset?: number, byteLength?: number): number;
  /** Sends FIN once (nothing is buffered, so at once) and closes. */
  end(): void;
  /** Closes with RST (SO_LINGER 0). */
  terminate(): void;
  /** shutdown(2): `true` for the write side only. */
  shutdown(halfClose?: boolean): void;
  pause(): void;
  resume(): void;
  setNoDelay(noDelay?: boolean): boolean;
  setKeepAlive(enable?: boolean, initialDelayMs?: number): boolean;
  ref(): void;
  unref(): void;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  /** > 0 while open; -1 once closed. */
  readonly readyState: number;
  readonly fd: number;
  readonly authorized: boolean;
  readonly alpnProtocol: string | false | null;
  getAuthorizationError(): Error | null;
  getTLSVersion(): string | null;
  getCipher(): { name: string } | null;
  getPeerCertificate(): { subject?: Record<string, string | string[]> } | null;
  getServername(): string | null;
}

/** Bun's TLS options for a listener or a connection (PEM contents). */
export interface BunTlsOptions {
  cert?: string | Uint8Array | (string | Uint8Array)[];
  key?: string | Uint8Array | (string | Uint8Array)[];
  ca?: string | Uint8Array | (string | Uint8Array)[];
  serverName?: string;
  requestCert?: boolean;
  rejectUnauthorized?: boolean;
  ALPNProtocols?: string[];
  minVersion?: string;
}

/** The callbacks a listener or connection calls with the socket; shared by all its sockets. */
export interface BunSocketHandlers<D = unknown> {
  open?(socket: BunSocket<D>): void;
  data?(socket: BunSocket<D>, data: Buffer): void;
  drain?(socket: BunSocket<D>): void;
  /** The peer half-closed (FIN). */
  end?(socket: BunSocket<D>): void;
  close?(socket: BunSocket<D>, error?: Error): void;
  error?(socket: BunSocket<D>, error: Error): void;
  connectError?(socket: BunSocket<D>, error: Error): void;
  handshake?(socket: BunSocket<D>, success: boolean, authorizationError: Error | null): void;
  timeout?(socket: BunSocket<D>): void;
}

export interface BunListener {
  readonly hostname: string;
  readonly port: number;
  stop(closeActiveConnections?: boolean): void;
}

export interface BunListenOptions<D = unknown> {
  hostname: string;
  port: number;
  reusePort?: boolean;
  backlog?: number;
  allowHalfOpen?: boolean;
  tls?: BunTlsOptions;
  socket: BunSocketHandlers<D>;
}

export interface BunConnectOptions<D = unknown> {
  hostname: string;
  port: number;
  allowHalfOpen?: boolean;
  tls?: BunTlsOptions | boolean;
  socket: BunSocketHandlers<D>;
}

/** `globalThis.Bun`, as far as sockets go. */
export interface BunSockets {
  listen<D>(options: BunListenOptions<D>): BunListener;
  connect<D>(options: BunConnectOptions<D>): Promise<BunSocket<D>>;
}

/** Bun's socket API, or null on another runtime. */
export function bunSockets(): BunSockets | null {
  const bun = (globalThis as { Bun?: BunSockets }).Bun;
  return bun === undefined ? null : bun;
}

/** True when this process runs on Bun. */
export function isBun(): boolean {
  return typeof process.versions.bun === 'string';
}
