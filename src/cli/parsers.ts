import { InvalidArgumentError } from 'commander';
import { maxReactorCount, reactorCountRange } from '../reactors/reactor-group.js';

/**
 * Argument parsers shared by flags, environment variables and string values in config files.
 * Each refuses every bad input with one message that states its own bound.
 */

export function port(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new InvalidArgumentError('must be an integer from 0 to 65535.');
  return n;
}

/** A number, or NaN when `value` is not one (Number('') and Number(' ') are 0). */
function number(value: string): number {
  return value.trim() === '' ? Number.NaN : Number(value);
}

export function seconds(value: string): number {
  const n = number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('must be a number of seconds >= 0 (fractions allowed).');
  return n;
}

export function positiveSeconds(value: string): number {
  const n = number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a number of seconds > 0 (fractions allowed).');
  return n;
}

export function count(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('must be an integer >= 0.');
  return Number(value);
}

export function positiveCount(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new InvalidArgumentError('must be an integer >= 1.');
  return Number(value);
}

const BYTE_SIZE = /^(\d+)\s*([kKmMgG]i?[bB]?)?$/;

/** The size `value` describes, or NaN when it describes none. */
function byteSize(value: string): number {
  const match = BYTE_SIZE.exec(value.trim());
  if (match === null) return Number.NaN;
  const scale = { k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(match[2] ?? '').charAt(0).toLowerCase()] ?? 1;
  return Number(match[1]) * scale;
}

export function bytes(value: string): number {
  const n = byteSize(value);
  if (Number.isNaN(n)) throw new InvalidArgumentError('must be a number of bytes >= 0, optionally with a K, M or G suffix (powers of 1024).');
  return n;
}

export function positiveBytes(value: string): number {
  const n = byteSize(value);
  if (Number.isNaN(n) || n < 1) throw new InvalidArgumentError('must be a number of bytes >= 1, optionally with a K, M or G suffix (powers of 1024).');
  return n;
}

export function choice<T extends string>(allowed: readonly T[]): (value: string) => T {
  return (value) => {
    if (!(allowed as readonly string[]).includes(value)) throw new InvalidArgumentError(`must be one of ${allowed.join(', ')}.`);
    return value as T;
  };
}

export function workers(value: string): number | 'auto' {
  if (value === 'auto') return value;
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > maxReactorCount()) throw new InvalidArgumentError(`must be 'auto' or ${reactorCountRange()}.`);
  return Number(value);
}
