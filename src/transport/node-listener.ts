import net, { type AddressInfo, type Socket } from 'node:net';
import { REUSE_PORT_SUPPORT, runtimeDescription, supportsReusePort } from './platform.js';
import { UnsupportedError } from '../core/errors.js';
import type { ListenerOptions, TransportListener } from './transport.js';
import type { AcceptedPeer } from './proxy-gate.js';

/** The listener's options (the seed Acceptor's socket options). */
export type AcceptorOptions = ListenerOptions;

/**
 * The node:net listening socket, the seed's Acceptor. SO_REUSEADDR is always on (libuv sets
 * it); TCP_NODELAY and SO_KEEPALIVE are applied to accepted sockets by Node before we see
 * them. A listener error Node reports goes to `onError` and accepting continues. (Out of file
 * descriptors, libuv sheds connections without reporting anything: the server's
 * DescriptorGuard keeps that visible.)
 */
export class Acceptor implements TransportListener {
  /** The listening server: a net.Server, or a tls.Server (one) from `createServer`. */
  protected readonly server: net.Server;

  /**
   * @param createServer makes the listening server from the socket options; default
   *   `net.createServer` (the TLS transport passes `tls.createServer` with its context)
   */
  constructor(
    private readonly options: AcceptorOptions,
    onConnection: (socket: Socket, peer?: AcceptedPeer) => void,
    private readonly onError: (error: Error) => void,
    createServer: (options: net.ServerOpts, onConnection: (socket: Socket) => void) => net.Server = net.createServer,
  ) {
    if (options.reusePort && !supportsReusePort()) {
      throw new UnsupportedError(`reusePort needs SO_REUSEPORT (${REUSE_PORT_SUPPORT}); this is ${process.platform} ${runtimeDescription()}`);
    }
    this.server = createServer(
      {
        // Our side stays writable after the peer's FIN, so replies to its last requests still go out.
        allowHalfOpen: true,
        noDelay: options.noDelay,
        keepAlive: options.keepAlive,
        keepAliveInitialDelay: options.keepAliveInitialDelay * 1000,
      },
      onConnection,
    );
  }

  /** Starts listening; resolves with the bound address (useful with port 0). */
  listen(): Promise<AddressInfo> {
    const { host, port, backlog, reusePort } = this.options;
    return new Promise((resolve, reject) => {
      const onListenError = (err: Error): void => reject(err);
      this.server.once('error', onListenError);
      const listenOptions: net.ListenOptions & { reusePort?: boolean } = { host, port, backlog };
      if (reusePort) listenOptions.reusePort = true;
      this.server.listen(listenOptions, () => {
        this.server.off('error', onListenError);
        this.server.on('error', this.onError);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  /** The bound address, or null when not listening. */
  address(): AddressInfo | null {
    const address = this.server.address();
    return address !== null && typeof address === 'object' ? address : null;
  }

  /** Stops accepting. Resolves when the listener and every socket it accepted are closed. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.server.listening) {
        resolve();
        return;
      }
      // net.Server's close callback runs before libuv has finished closing the handle;
      // two loop turns always pass through libuv's close phase, after which it is gone.
      this.server.close(() => setImmediate(() => setImmediate(resolve)));
    });
  }
}
