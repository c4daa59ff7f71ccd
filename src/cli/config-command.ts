import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { defaultMaxBufferedInput } from '../server/options.js';
import { addStartSettings, checkConfig, checkSettings, describeProblem, type StartSettings } from './server-options.js';

export function addConfigCommands(program: Command): void {
  program
    .command('validate')
    .description('check a config file, with defaults for what it leaves out, as start would: exits 0, or 1 naming each bad setting and why')
    .requiredOption('-c, --config <file>', 'the JSON config file')
    .action((flags: { config: string }) => {
      let raw: unknown;
      try {
        raw = JSON.parse(readFileSync(flags.config, 'utf8'));
      } catch (err) {
        process.stderr.write(`${flags.config}: ${(err as Error).message}\n`);
        process.exitCode = 1;
        return;
      }
      const { problems } = checkConfig(raw);
      if (problems.length === 0) {
        process.stdout.write(`${flags.config}: valid\n`);
        return;
      }
      for (const problem of problems) process.stderr.write(`${flags.config}: ${problem.key}: ${problem.message}\n`);
      process.exitCode = 1;
    });

  const config = program
    .command('config')
    .description('print the effective configuration (defaults < config file < REACTOR_* variables < flags), checked as start would: exits 1 naming each setting start would refuse')
    .option('--sources', 'show where each value came from');
  addStartSettings(config).action((settings: StartSettings & { config?: string; sources?: boolean }, command: Command) => {
    const { config: _file, sources, ...values } = settings;
    const problems = checkSettings(values);
    // Its default follows maxMessageBytes, so the flag has none of its own: show what applies.
    values.maxBufferedInput ??= defaultMaxBufferedInput(values.maxMessageBytes);
    if (problems.length > 0) {
      for (const problem of problems) process.stderr.write(`reactor-server: ${describeProblem(problem)}\n`);
      process.exitCode = 1;
      return;
    }
    const effective = Object.fromEntries(
      Object.entries(values)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([key, value]) => [key, sources === true ? { value, source: command.getOptionValueSource(key) ?? 'default' } : value]),
    );
    process.stdout.write(`${JSON.stringify(effective, null, 2)}\n`);
  });
}
