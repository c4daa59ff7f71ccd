/**
 * The checks every public options object goes through: no key the receiver does not know (a
 * typo would otherwise be ignored in silence and its default used), and each value of the
 * right type and range, reported with the type it had. Written once, used by the servers, the
 * group, the client and the pool.
 */
import { InvalidOptionError, UnknownOptionError } from './errors.js';

/**
 * Throws for the first key of `options` that is not in `known`, suggesting the nearest known
 * name. Keys whose value is `undefined` count as not given, as everywhere in the options.
 * @param prefix put before the key in the error (`callbacks.` for a callbacks object)
 * @throws UnknownOptionError
 */
export function rejectUnknownOptions(options: object, known: readonly string[], prefix = ''): void {
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined || known.includes(key)) continue;
    throw new UnknownOptionError(`${prefix}${key}`, nearestName(key, known));
  }
}

/**
 * The known name `name` was most likely meant to be: one a letter away (`idleTimout`), else
 * one that contains it (`mode` for `reactorMode`), else the closest by edit distance when a
 * third of it at most is wrong (`prot`); undefined when nothing is near.
 */
export function nearestName(name: string, known: readonly string[]): string | undefined {
  const lower = name.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const distance = editDistance(lower, candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  if (bestDistance <= 1) return best;
  const containing = lower.length >= 3 ? known.find((candidate) => candidate.toLowerCase().includes(lower)) : undefined;
  if (containing !== undefined) return containing;
  return bestDistance <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

/** Levenshtein distance: insertions, deletions and substitutions turning `a` into `b`. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min(substitution, (previous[j] as number) + 1, (current[j - 1] as number) + 1);
    }
    previous = current;
  }
  return previous[b.length] as number;
}

/**
 * A value as an error message shows it: numbers as they are, anything else with its type, so
 * that `"20070"` (a string) is not mistaken for the number 20070.
 */
export function describeValue(value: unknown): string {
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return `string ${JSON.stringify(value)}`;
  if (typeof value === 'boolean' || typeof value === 'bigint') return `${typeof value} ${String(value)}`;
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  const type = (value as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof type === 'string' && type !== '' && type !== 'Object' ? `an object (${type})` : 'an object';
}

/** @throws InvalidOptionError unless `value` is an integer from `min` to `max` */
export function requireInteger(name: string, value: unknown, min: number, max: number): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidOptionError(name, `must be an integer from ${min} to ${max}, got ${describeValue(value)}`);
  }
}

/** @throws InvalidOptionError unless `value` is a finite number from `min` to `max` */
export function requireNumber(name: string, value: unknown, min: number, max: number, unit: string): asserts value is number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new InvalidOptionError(name, `must be a number of ${unit} from ${min} to ${max}, got ${describeValue(value)}`);
  }
}

/** @throws InvalidOptionError unless `value` is `true` or `false` */
export function requireBoolean(name: string, value: unknown): asserts value is boolean {
  if (typeof value !== 'boolean') throw new InvalidOptionError(name, `must be true or false, got ${describeValue(value)}`);
}

/** @throws InvalidOptionError unless `value` is a non-empty string */
export function requireName(name: string, value: unknown): asserts value is string {
  if (typeof value !== 'string' || value === '') throw new InvalidOptionError(name, `must be a non-empty string, got ${describeValue(value)}`);
}

/** @throws InvalidOptionError unless `value` is one of `allowed` */
export function requireOneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): asserts value is T {
  if (!(allowed as readonly unknown[]).includes(value)) {
    throw new InvalidOptionError(name, `must be one of ${allowed.join(', ')}, got ${describeValue(value)}`);
  }
}

/** @throws InvalidOptionError unless `value` is a function */
export function requireFunction(name: string, value: unknown): asserts value is (...args: never[]) => unknown {
  if (typeof value !== 'function') throw new InvalidOptionError(name, `must be a function, got ${describeValue(value)}`);
}

/** @throws InvalidOptionError unless `value` names a module: a non-empty path or URL string, or a URL */
export function requireModule(name: string, value: unknown): asserts value is string | URL {
  if (!(value instanceof URL) && (typeof value !== 'string' || value === '')) {
    throw new InvalidOptionError(name, `must be a module path or URL, got ${describeValue(value)}`);
  }
}

/** @throws InvalidOptionError unless `value` is an object (a plain options object, not null or an array) */
export function requireOptionsObject(name: string, value: unknown): asserts value is object {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidOptionError(name, `must be an object, got ${describeValue(value)}`);
  }
}
