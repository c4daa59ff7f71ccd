import { Option, type Command } from 'commander';
import { DEFAULT_MAX_REPLY_BYTES } from '../client/wire-format.js';
import type { ByteOrder } from '../net/length-codec.js';
import type { CodecName } from '../server/options.js';
import { SETTINGS, type StartSettings } from './server-options.js';

/** What the wire options give a command's action. */
export interface WireFlags {
  codec: CodecName;
  byteOrder: ByteOrder;
  /** Largest reply accepted. */
  maxMessageBytes: number;
}

/**
 * The settings of `start` that change the wire format, as options of the client commands
 * (`send`, `bench`), which must frame and read exactly as the server does. `--codec` and
 * `--byte-order` keep start's flags, parsers, help and defaults; `--max-message-bytes` keeps
 * its flag and parser and bounds the replies. No REACTOR_* variables: those configure a server.
 */
export function addWireOptions(command: Command): Command {
  for (const key of ['codec', 'byteOrder'] as const) {
    const setting = settingOf(key);
    command.addOption(withParser(new Option(setting.flags, setting.description), setting.parse).default(setting.default));
  }
  const max = settingOf('maxMessageBytes');
  command.addOption(withParser(new Option(max.flags, 'largest reply accepted (a frame, or a line); a bigger one fails the connection'), max.parse).default(DEFAULT_MAX_REPLY_BYTES, '16M'));
  return command;
}

function settingOf(key: keyof StartSettings): (typeof SETTINGS)[number] {
  const setting = SETTINGS.find((s) => s.key === key);
  if (setting === undefined) throw new Error(`no start setting ${key}`);
  return setting;
}

function withParser(option: Option, parse: ((value: string) => unknown) | undefined): Option {
  return parse === undefined ? option : option.argParser(parse);
}
