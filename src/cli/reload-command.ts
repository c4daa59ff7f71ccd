import type { Command } from 'commander';
import { ControlSocketError } from '../core/errors.js';
import { askControl } from './control-client.js';
import type { ReloadReport } from './control-protocol.js';
import { EXIT, addPidFileOption, findServer } from './pid-file-option.js';
import * as parse from './parsers.js';

interface ReloadFlags {
  pidFile: string;
  json?: boolean;
  timeout: number;
}

export function addReloadCommand(program: Command): void {
  const command = program
    .command('reload')
    .description('make the server of a pid file reload its settings and wait until they are in force; print what changed: exit 0 reloaded, 1 refused (nothing changed), 3 not running, 4 no answer');
  addPidFileOption(command)
    .option('--json', 'print the report as JSON')
    .option('-t, --timeout <seconds>', 'seconds to wait for the reload to finish', parse.positiveSeconds, 60)
    .action(async (flags: ReloadFlags) => {
      process.exitCode = await reload(flags);
    });
}

async function reload(flags: ReloadFlags): Promise<number> {
  const server = findServer(flags.pidFile);
  if (server.state !== 'running') {
    if (flags.json === true) process.stdout.write(`${JSON.stringify({ running: server.state === 'unknown' ? null : false, reason: server.reason })}\n`);
    process.stderr.write(`reactor-server: ${server.state === 'not-running' ? 'not running: ' : ''}${server.reason}\n`);
    return server.state === 'not-running' ? EXIT.notRunning : EXIT.unknown;
  }
  let report: ReloadReport;
  try {
    report = await askControl(server.socketPath, { cmd: 'reload' }, flags.timeout * 1000);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`reactor-server: pid ${server.pid}: reload ${err instanceof ControlSocketError && err.reason === 'refused' ? 'failed' : 'not confirmed (it may still finish)'}: ${message}\n`);
    return err instanceof ControlSocketError && err.reason === 'refused' ? EXIT.failed : EXIT.unknown;
  }
  if (flags.json === true) process.stdout.write(`${JSON.stringify(report)}\n`);
  else process.stdout.write(describeReload(report));
  for (const problem of report.problems) process.stderr.write(`reactor-server: reload refused: ${problem.key}: ${problem.message}\n`);
  return report.ok ? EXIT.ok : EXIT.failed;
}

/** The human report: what is in force now, what waits for a restart, which reactors were replaced. */
function describeReload(report: ReloadReport): string {
  if (!report.ok) return 'reload refused: nothing changed\n';
  const value = (v: unknown): string => (v === undefined ? 'unset' : JSON.stringify(v));
  const lines = [
    report.applied.length === 0 ? 'reloaded: no setting changed' : `reloaded: ${report.applied.join(', ')}`,
    ...report.restartRequired.map((r) => `needs a restart: ${r.key} (running ${value(r.running)}, wanted ${value(r.wanted)})`),
    ...report.replaced.map((r) => `replaced reactor ${r.index}: ${r.kind} ${r.from} -> ${r.kind} ${r.to}`),
  ];
  return `${lines.join('\n')}\n`;
}
