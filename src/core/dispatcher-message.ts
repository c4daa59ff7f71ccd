import type { Payload } from './payload.js';

/** Messages a RemoteDispatcher posts to its Dispatcher across threads (structured-cloned). */
export type DispatcherMessage =
  | { kind: 'send'; connectionId: number; payload: Payload }
  | { kind: 'close'; connectionId: number }
  | { kind: 'post'; topic: string; data: unknown };

export function isDispatcherMessage(value: unknown): value is DispatcherMessage {
  if (typeof value !== 'object' || value === null) return false;
  const kind = (value as { kind?: unknown }).kind;
  return kind === 'send' || kind === 'close' || kind === 'post';
}
