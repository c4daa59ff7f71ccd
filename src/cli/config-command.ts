import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { addStartSettings, checkConfig, type StartSettings } from './server-options.js';

export function addConfigCommands(program: Command): void {
  program
    .command('validate')
    .description('check a config file: exits 0, or 1 naming each bad setting and why')
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
    .description('print the effective configuration (defaults < config file < REACTOR_* variables < flags)')
    .option('--sources', 'show where each value came from');
  addStartSettings(config).action((settings: StartSettings & { config?: string; sources?: boolean }, command: Command) => {
    const { config: _file, sources, ...values } = settings;
    const effective = Object.fromEntries(
      Object.entries(values)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([key, value]) => [key, sources === true ? { value, source: command.getOptionValueSource(key) ?? 'default' } : value]),
    );
    process.stdout.write(`${JSON.stringify(effective, null, 2)}\n`);
  });
}
