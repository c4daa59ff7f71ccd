import { hostname } from 'node:os';
import { InvalidOptionError } from './errors.js';
import { describeValue } from './option-checks.js';

/** What an instance id may be: letters, digits, `.`, `_`, `-`, 1 to 64 of them. */
const INSTANCE_ID = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * This process's instance id when none is given: the host name (cut to 48 characters, anything
 * but letters, digits, `.`, `_` and `-` made `-`) and the process id, so two instances on one
 * host, or on two hosts, differ.
 */
export function defaultInstanceId(): string {
  const host = hostname().replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 48) || 'host';
  return `${host}-${process.pid}`;
}

/** @throws InvalidOptionError unless `value` is a usable instance id */
export function requireInstanceId(name: string, value: unknown): asserts value is string {
  if (typeof value !== 'string' || !INSTANCE_ID.test(value)) {
    throw new InvalidOptionError(name, `must be 1 to 64 letters, digits, '.', '_' or '-', got ${describeValue(value)}`);
  }
}

/** A connection's id across instances: `INSTANCE:ID` (see `Connection.globalId`). */
export function formatConnectionId(instanceId: string, id: number): string {
  return `${instanceId}:${id}`;
}

/**
 * Splits `INSTANCE:ID` into its parts.
 * @throws InvalidOptionError (option `connectionId`) for anything else
 */
export function parseConnectionId(text: string): { instanceId: string; id: number } {
  const at = text.lastIndexOf(':');
  const instanceId = text.slice(0, at);
  const digits = text.slice(at + 1);
  const id = Number(digits);
  if (at < 1 || !INSTANCE_ID.test(instanceId) || !/^[0-9]{1,16}$/.test(digits) || !Number.isSafeInteger(id) || id < 1) {
    throw new InvalidOptionError('connectionId', `must be a connection's globalId (INSTANCE:ID) or a number, got ${describeValue(text)}`);
  }
  return { instanceId, id };
}
