/** The reactor-server command: its subcommands, parsed and run (loaded by main.ts). */
import { Command } from 'commander';
import { addBenchCommand } from './bench-command.js';
import { addConfigCommands } from './config-command.js';
import { addSendCommand } from './send-command.js';
import { ConfigFileError } from '../core/errors.js';
import { addStartCommand } from './start-command.js';
import { PACKAGE_VERSION } from './package-version.js';
import { addReloadCommand } from './reload-command.js';
import { addStatusCommand } from './status-command.js';
import { addStopCommand } from './stop-command.js';

const program = new Command()
  .name('reactor-server')
  .description('A Reactor-pattern TCP server: the seed-compatible echo and the framework around it.')
  .version(PACKAGE_VERSION, '-v, --version')
  .showHelpAfterError();

addStartCommand(program);
addStatusCommand(program);
addStopCommand(program);
addReloadCommand(program);
addSendCommand(program);
addBenchCommand(program);
addConfigCommands(program);

try {
  await program.parseAsync();
} catch (err) {
  if (!(err instanceof ConfigFileError)) throw err;
  for (const problem of err.problems) process.stderr.write(`reactor-server: ${err.file}: ${problem.key}: ${problem.message}\n`);
  process.exitCode = 1;
}
