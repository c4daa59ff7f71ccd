import { InvalidOptionError } from '../core/errors.js';
import { describeValue } from '../core/option-checks.js';

/** Which broker a `broker` setting names. */
export type BrokerTarget =
  | { kind: 'local' }
  | {
      kind: 'redis';
      /** The URL as given, for the client. */
      url: string;
      /** The URL without a password, for logs. */
      display: string;
      /**
       * The database number of the URL (default 0). Redis pub/sub channels ignore databases, so
       * it becomes part of every channel name instead: instances on different numbers never hear
       * each other, as their users would expect.
       */
      db: number;
    };

/**
 * Reads a `broker` setting: `local` (the default: this instance's reactors only), or
 * `redis://[USER:PASSWORD@]HOST:PORT[/DB]` (`rediss://` for TLS).
 * @throws InvalidOptionError (option `broker`) for anything else
 */
export function parseBrokerUrl(value: unknown, option = 'broker'): BrokerTarget {
  if (value === undefined || value === 'local') return { kind: 'local' };
  const bad = (why: string): never => {
    throw new InvalidOptionError(option, `must be 'local' or redis://HOST:PORT[/DB]: ${why}, got ${describeValue(value)}`);
  };
  if (typeof value !== 'string') return bad('not a string');
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return bad('not a URL');
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') return bad(`the scheme is ${url.protocol.replace(/:$/, '')}`);
  if (url.hostname === '') return bad('no host');
  if (url.search !== '' || url.hash !== '') return bad('a query or fragment is not understood');
  const path = url.pathname.replace(/^\//, '');
  if (path !== '' && !/^[0-9]{1,5}$/.test(path)) return bad(`the database must be a number, not ${path}`);
  const display = url.password === '' ? value : value.replace(`:${url.password}@`, ':***@');
  return { kind: 'redis', url: value, display, db: path === '' ? 0 : Number(path) };
}
