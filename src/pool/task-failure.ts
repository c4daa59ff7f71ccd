/**
 * How a worker reports that a task threw: as a result, so that a rejection from piscina can
 * only mean the worker itself died. Plain data, since it crosses threads by structured clone.
 */
const FAILED = '@@reactor-server/task-failed';

export interface TaskFailure {
  [FAILED]: true;
  error: unknown;
}

export function taskFailed(error: unknown): TaskFailure {
  return { [FAILED]: true, error };
}

export function isTaskFailure(value: unknown): value is TaskFailure {
  return typeof value === 'object' && value !== null && (value as Partial<TaskFailure>)[FAILED] === true;
}
