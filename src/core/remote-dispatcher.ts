import type { MessagePort, TransferListItem } from 'node:worker_threads';
import type { DispatcherMessage } from './dispatcher-message.js';
import type { Payload } from './payload.js';

/**
 * The other side of `Dispatcher.createPort()`: lets any thread queue work on a loop it does
 * not own. Every call is asynchronous and runs on the dispatcher's loop, in call order.
 */
export class RemoteDispatcher {
  constructor(private readonly port: MessagePort) {}

  /** Sends `payload` on connection `connectionId` (dropped if it has closed meanwhile). */
  send(connectionId: number, payload: Payload, transfer?: readonly TransferListItem[]): void {
    this.postMessage({ kind: 'send', connectionId, payload }, transfer);
  }

  /** Flushes and closes connection `connectionId`. */
  closeConnection(connectionId: number): void {
    this.postMessage({ kind: 'close', connectionId });
  }

  /** Runs the dispatcher's handler for `topic` with `data`. */
  post(topic: string, data?: unknown, transfer?: readonly TransferListItem[]): void {
    this.postMessage({ kind: 'post', topic, data }, transfer);
  }

  /** Releases the port so it no longer keeps this thread alive. */
  close(): void {
    this.port.close();
  }

  private postMessage(message: DispatcherMessage, transfer?: readonly TransferListItem[]): void {
    this.port.postMessage(message, transfer);
  }
}
