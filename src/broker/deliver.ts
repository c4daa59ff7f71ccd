import type { NetServer } from '../server/net-server.js';
import type { Delivery } from './broker-hub.js';

/** Hands what the hub routed to this reactor to the server's own connections. */
export function deliverTo<T>(server: NetServer<T>, delivery: Delivery): void {
  switch (delivery.t) {
    case 'broadcast':
      server.broadcastLocal(delivery.payload);
      break;
    case 'publish':
      server.publishLocal(delivery.topic, delivery.payload);
      break;
    case 'sendTo':
      server.sendToLocal(delivery.id, delivery.payload);
      break;
  }
}
