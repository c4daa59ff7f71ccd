/**
 * Reads the PROXY header off the front of a connection's bytes, chunk by chunk as the socket
 * delivers them, and hands back the bytes after it: they are the application's, and none is
 * lost, whether they came in the header's own chunk or not.
 */
import type { ProxyProtocolError } from '../core/errors.js';
import { rejectUnknownOptions, requireOneOf, requireOptionsObject } from '../core/option-checks.js';
import { checkMaxHeaderBytes, detectProxyHeader, parseProxyHeader } from './proxy-header-parser.js';
import { DEFAULT_MAX_PROXY_HEADER_BYTES, type ProxyHeader } from './proxy-header.js';

export type ProxyHeaderMode = 'required' | 'optional';

export interface ProxyHeaderReaderOptions {
  /**
   * `required` (default): the connection must start with a header. `optional`: a connection
   * whose first bytes cannot start a header has none (`absent`); one that starts like a
   * header must finish a valid one.
   */
  mode?: ProxyHeaderMode;
  /** The longest version 2 header accepted, TLVs included. Default 16384; from 232 to 65551. */
  maxHeaderBytes?: number;
}

export type ProxyReadResult =
  /** More bytes are needed; the reader holds the ones it has (`bufferedBytes`). */
  | { readonly status: 'incomplete' }
  /** The header, and the bytes after it (possibly empty): the first of the application's. */
  | { readonly status: 'done'; readonly header: ProxyHeader; readonly rest: Buffer }
  /** `optional` mode: no header; every byte so far is the application's. */
  | { readonly status: 'absent'; readonly rest: Buffer }
  /** Not a valid header: close the connection. */
  | { readonly status: 'invalid'; readonly error: ProxyProtocolError };

const INCOMPLETE: ProxyReadResult = Object.freeze({ status: 'incomplete' });

const READER_OPTION_NAMES = Object.keys({ mode: true, maxHeaderBytes: true } satisfies Record<keyof ProxyHeaderReaderOptions, true>);

/**
 * One connection's header reader. Feed it each chunk with `push()` until it answers something
 * other than `incomplete`; it then holds nothing, and a further push would read a new header.
 * It holds at most `maxHeaderBytes` (107 for version 1): a longer header is refused as soon as
 * its length is known.
 */
export class ProxyHeaderReader {
  private readonly optional: boolean;
  private readonly parseOptions: { maxHeaderBytes: number };
  /** The bytes of a header begun but not finished (a copy: the chunks stay the caller's). */
  private held: Buffer | undefined;

  /** @throws InvalidOptionError for an unknown option or a bad value, naming it */
  constructor(options: ProxyHeaderReaderOptions = {}) {
    requireOptionsObject('options', options);
    rejectUnknownOptions(options, READER_OPTION_NAMES);
    const mode = options.mode ?? 'required';
    requireOneOf('mode', mode, ['required', 'optional'] as const);
    const maxHeaderBytes = options.maxHeaderBytes ?? DEFAULT_MAX_PROXY_HEADER_BYTES;
    checkMaxHeaderBytes(maxHeaderBytes);
    this.optional = mode === 'optional';
    this.parseOptions = { maxHeaderBytes };
  }

  /** Bytes held for an unfinished header. */
  get bufferedBytes(): number {
    return this.held?.length ?? 0;
  }

  push(chunk: Buffer): ProxyReadResult {
    const data = this.held === undefined ? chunk : Buffer.concat([this.held, chunk]);
    this.held = undefined;
    if (this.optional && detectProxyHeader(data) === 'none') return { status: 'absent', rest: data };
    const result = parseProxyHeader(data, this.parseOptions);
    switch (result.status) {
      case 'incomplete':
        this.held = data === chunk ? Buffer.from(chunk) : data;
        return INCOMPLETE;
      case 'done':
        return { status: 'done', header: result.header, rest: data.subarray(result.consumed) };
      case 'invalid':
        return result;
    }
  }
}
