import type { Command } from 'commander';
import { connect, type Client } from '../client/client.js';
import * as parse from './parsers.js';
import { addTargetOptions, targetOf, type TargetFlags } from './target-options.js';

interface SendFlags extends TargetFlags {
  timeout: number;
}

export function addSendCommand(program: Command): void {
  const command = program
    .command('send')
    .description('send one message and print the reply')
    .argument('<message>', 'the message (UTF-8)');
  addTargetOptions(command)
    .option('-t, --timeout <seconds>', 'seconds to wait for the reply', parse.positiveSeconds, 5)
    .action(async (message: string, flags: SendFlags) => {
      const target = targetOf(flags, command);
      let client: Client | null = null;
      try {
        client = await connect({ ...target, connectTimeout: flags.timeout * 1000 });
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
