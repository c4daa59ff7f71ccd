import type { Command } from 'commander';
import { connect, type Client } from '../client/client.js';
import { DEFAULT_OPTIONS } from '../server/options.js';
import * as parse from './parsers.js';
import { addTlsClientOptions, tlsFromFlags, type TlsClientFlags } from './tls-client-options.js';
import { addWireOptions, type WireFlags } from './wire-options.js';

interface SendFlags extends WireFlags, TlsClientFlags {
  host: string;
  port: number;
  timeout: number;
}

export function addSendCommand(program: Command): void {
  const command = program
    .command('send')
    .description('send one message and print the reply')
    .argument('<message>', 'the message (UTF-8)')
    .option('--host <host>', 'server address', DEFAULT_OPTIONS.host)
    .option('-p, --port <port>', 'server port', parse.port, DEFAULT_OPTIONS.port);
  addTlsClientOptions(addWireOptions(command).option('-t, --timeout <seconds>', 'seconds to wait for the reply', parse.positiveSeconds, 5))
    .action(async (message: string, flags: SendFlags) => {
      const tls = tlsFromFlags(flags, (problem) => command.error(`error: ${problem}`));
      let client: Client | null = null;
      try {
        client = await connect({
          host: flags.host,
          port: flags.port,
          codec: flags.codec,
          byteOrder: flags.byteOrder,
          maxMessageBytes: flags.maxMessageBytes,
          connectTimeout: flags.timeout * 1000,
          tls,
        });
        const reply = await client.request(message, flags.timeout * 1000);
        process.stdout.write(`${reply.toString()}\n`);
        await client.close();
      } catch (err) {
        process.stderr.write(`reactor-server: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exitCode = 1;
      } finally {
        // A server that never answered must not keep this process waiting.
        client?.destroy();
      }
    });
}
