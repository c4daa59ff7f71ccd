/**
 * The one place a user callback is called: a throw, or a rejection of the promise it returned,
 * becomes a HandlerError naming the callback, handed to the caller's failure handler instead of
 * escaping into the event loop. Handlers take a context argument so callers pass module-level
 * or static functions: nothing is allocated per call.
 */
import { HandlerError } from '../core/errors.js';

/**
 * Calls `callback(context, arg)`.
 * @returns what the callback returned; undefined when it threw (after `onFailure`)
 */
export function callHandler<C, A>(name: string, callback: (context: C, arg: A) => unknown, context: C, arg: A, onFailure: (context: C, error: HandlerError) => void): unknown {
  try {
    return callback(context, arg);
  } catch (err) {
    onFailure(context, new HandlerError(name, err));
    return undefined;
  }
}

/** True for a promise or any other thenable: work still in flight. */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

/**
 * Waits for what a callback returned: a rejection goes to `onFailure` as a HandlerError, then
 * `onSettled` runs whichever way it ended.
 */
export function settleHandler<C>(name: string, pending: PromiseLike<unknown>, context: C, onFailure: (context: C, error: HandlerError) => void, onSettled: (context: C) => void): void {
  pending.then(
    () => onSettled(context),
    (err: unknown) => {
      onFailure(context, new HandlerError(name, err));
      onSettled(context);
    },
  );
}
