/**
 * The entry module of every pool worker. Loads the task's module (once per worker), calls the
 * named export with the arguments, and hands back the result, moving an owned byte buffer
 * instead of copying it.
 */
import { move, workerData } from 'piscina';
import { setStopFlag } from './pool-context.js';
import { taskFailed } from './task-failure.js';

export interface WorkerTask {
  module: string;
  name: string;
  args: unknown[];
}

// The pool's stop flag, the same for every task this worker runs.
setStopFlag(workerData as Int32Array);

const modules = new Map<string, Record<string, unknown>>();

export default async function runTask(task: WorkerTask): Promise<unknown> {
  let loaded = modules.get(task.module);
  if (loaded === undefined) {
    try {
      loaded = (await import(task.module)) as Record<string, unknown>;
    } catch (error) {
      return taskFailed(moduleLoadError(task.module, error));
    }
    modules.set(task.module, loaded);
  }
  const fn = loaded[task.name];
  if (typeof fn !== 'function') return taskFailed(new TypeError(`${task.module} has no exported function "${task.name}"`));
  let result: unknown;
  try {
    result = await (fn as (...args: unknown[]) => unknown)(...task.args);
  } catch (error) {
    // Returned, not thrown: piscina reports a thrown error and a dead worker alike.
    return taskFailed(error);
  }
  if (!(result instanceof Uint8Array)) return result;
  // Cloning a view clones its whole ArrayBuffer (an 8 KiB pool slab for a small Buffer):
  // copy just the bytes when the view does not own its memory, then move instead of cloning.
  return move(ownsItsMemory(result) ? result : new Uint8Array(result));
}

/**
 * Why the task module did not load, as a plain Error naming it: it crosses threads by
 * structured clone, which Bun's ResolveMessage (what a failed import throws there) does not
 * survive ("The object can not be cloned"). Node.js's own errors name the module already; the
 * code (ERR_MODULE_NOT_FOUND, say) is kept.
 */
function moduleLoadError(module: string, error: unknown): Error {
  const message = error instanceof Error || (typeof error === 'object' && error !== null && 'message' in error) ? String((error as { message: unknown }).message) : String(error);
  const plain = new Error(message.includes(module) ? message : `cannot load task module ${module}: ${message}`);
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') Object.assign(plain, { code });
  return plain;
}

/** A view covering its whole ArrayBuffer can be transferred without exposing anything else. */
function ownsItsMemory(value: Uint8Array): boolean {
  return (
    value.buffer instanceof ArrayBuffer &&
    value.byteOffset === 0 &&
    value.byteLength === value.buffer.byteLength
  );
}
