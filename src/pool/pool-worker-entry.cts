/**
 * The file piscina loads in each pool worker. CommonJS on purpose: piscina loads its entry with
 * require(), and require() of an ES module (Node.js 20.19+, 22.12+) aborts the whole process
 * (a V8 fatal error) when the worker is terminated while that module loads, which a stop right
 * after a start does. The task runner itself stays an ES module, loaded with import().
 */
type RunTask = (task: unknown) => Promise<unknown>;

let runner: Promise<RunTask> | null = null;

export = function runTask(task: unknown): Promise<unknown> {
  runner ??= import('./pool-worker.js').then((module) => module.default as RunTask);
  return runner.then((run) => run(task));
};
