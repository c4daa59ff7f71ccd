import type { Command } from 'commander';
import { askControl } from './control-client.js';
import type { StatusReport } from './control-protocol.js';
import { EXIT, addPidFileOption, findServer, formatSeconds } from './pid-file-option.js';
import * as parse from './parsers.js';

interface StatusFlags {
  pidFile: string;
  json?: boolean;
  timeout: number;
}

export function addStatusCommand(program: Command): void {
  const command = program
    .command('status')
    .description('whether the server of a pid file runs, and what it serves: exit 0 running, 3 not running, 4 unknown (it runs but does not answer)');
  addPidFileOption(command)
    .option('--json', 'print the status as JSON')
    .option('-t, --timeout <seconds>', 'seconds to wait for the answer', parse.positiveSeconds, 5)
    .action(async (flags: StatusFlags) => {
      process.exitCode = await status(flags);
    });
}

async function status(flags: StatusFlags): Promise<number> {
  const print = (value: unknown): void => void process.stdout.write(`${JSON.stringify(value)}\n`);
  const server = findServer(flags.pidFile);
  if (server.state === 'not-running') {
    if (flags.json === true) print({ running: false, reason: server.reason });
    else process.stdout.write(`not running: ${server.reason}\n`);
    return EXIT.notRunning;
  }
  if (server.state === 'unknown') {
    if (flags.json === true) print({ running: null, reason: server.reason });
    process.stderr.write(`reactor-server: ${server.reason}\n`);
    return EXIT.unknown;
  }
  let report: StatusReport;
  try {
    report = await askControl(server.socketPath, { cmd: 'status' }, flags.timeout * 1000);
  } catch (err) {
    const reason = `pid ${server.pid} runs, but ${err instanceof Error ? err.message : String(err)}`;
    if (flags.json === true) print({ running: true, pid: server.pid, answered: false, reason });
    process.stderr.write(`reactor-server: ${reason}\n`);
    return EXIT.unknown;
  }
  if (flags.json === true) print({ running: true, ...report });
  else process.stdout.write(describeStatus(report));
  return EXIT.ok;
}

/** The human summary: the process, then one line per reactor. */
function describeStatus(report: StatusReport): string {
  const plural = (n: number, what: string): string => `${n} ${what}${n === 1 ? '' : 's'}`;
  const lines = [
    `${report.draining ? 'draining (stopping)' : 'running'}: pid ${report.pid}, version ${report.version}, up ${formatUptime(report.uptimeSeconds)}, listening on ${report.address}, ${plural(report.connections, 'connection')}`,
    ...report.reactors.map(
      (r) => `  reactor ${r.index}: ${r.kind} ${r.id}, ${r.serving ? 'serving' : 'not serving'}, ${plural(r.connections, 'connection')}`,
    ),
  ];
  return `${lines.join('\n')}\n`;
}

/** `45 s`, `3m 12s`, `2h 5m`, `4d 3h`: the two largest units. */
function formatUptime(seconds: number): string {
  if (seconds < 60) return formatSeconds(Math.floor(seconds * 10) / 10);
  const units: [string, number][] = [
    ['d', 86_400],
    ['h', 3600],
    ['m', 60],
    ['s', 1],
  ];
  let rest = Math.floor(seconds);
  const parts = units.map(([unit, size]) => {
    const n = Math.floor(rest / size);
    rest -= n * size;
    return [n, unit] as const;
  });
  const first = parts.findIndex(([n]) => n > 0);
  return parts
    .slice(first, first + 2)
    .map(([n, unit]) => `${n}${unit}`)
    .join(' ');
}
