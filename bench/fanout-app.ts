/**
 * The application of the fan-out benchmark (line codec): `sub` makes the connection a member of
 * the topic `fan` and answers `subscribed`; `pub TEXT` publishes TEXT to `fan` on every instance
 * and answers nothing (the publisher is never a member, so it hears nothing back).
 */
import { NetServer, type NetServerOptions } from '../src/index.js';

export default function createFanoutApp(options: Omit<NetServerOptions, 'callbacks'>): NetServer {
  const server: NetServer = new NetServer({
    ...options,
    callbacks: {
      onMessage: (conn, message) => {
        if (message[0] === 0x70 /* p */) server.publish('fan', message.subarray(4));
        else if (conn.join('fan')) conn.send('subscribed');
      },
    },
  });
  return server;
}
