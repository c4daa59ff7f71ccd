import { Dispatcher } from '../core/dispatcher.js';
import type { Connection } from './connection.js';

/**
 * A Dispatcher whose registry holds this layer's `Connection`s, so a server iterating them sees
 * the whole connection (close reasons, quiescence, the socket). Core itself knows only the
 * `RegisteredConnection` part.
 */
export type ConnectionDispatcher = Dispatcher<Connection<unknown>>;
export const ConnectionDispatcher = Dispatcher<Connection<unknown>>;
