import type { Command } from 'commander';
import { runBench, type BenchOptions, type BenchResult } from '../load/load-driver.js';
import { failures, formatResult, progressLine } from '../load/report.js';
import { ConnectionClosedError, InvalidOptionError, TlsHandshakeError } from '../core/errors.js';
import { REPLY_PREFIX } from '../pool/reply-prefix.js';
import * as parse from './parsers.js';
import { addTargetOptions, targetOf, type TargetFlags } from './target-options.js';

/** The driver's options as the flags give them, plus what only the command needs. */
type BenchFlags = Pick<BenchOptions, 'connections' | 'duration' | 'size' | 'mode'> & TargetFlags & {
  prefix: string;
  verify: boolean;
  json: boolean;
};

export function addBenchCommand(program: Command): void {
  const command = program
    .command('bench')
    .description('measure a server: throughput, connection rate and latency percentiles, every reply verified');
  addTargetOptions(command)
    .option('-c, --connections <n>', 'concurrent connections (connect mode: concurrent sessions)', parse.positiveCount, 100)
    .option('-d, --duration <seconds>', 'seconds of load', parse.positiveSeconds, 10)
    .option('-s, --size <bytes>', 'request payload size', parse.positiveBytes, 16)
    .option('-m, --mode <mode>', 'pingpong (one request in flight per connection), connect (connect/send/receive/close), hold (open, one round trip, stay open)', parse.choice(['pingpong', 'connect', 'hold'] as const), 'pingpong')
    .option('--prefix <text>', 'what the server puts in front of each echoed request', REPLY_PREFIX)
    .option('--no-verify', 'do not check replies (for servers that are not echoes)')
    .option('--json', 'print the result as JSON')
    .action(async (flags: BenchFlags) => {
      const target = targetOf(flags, command);
      const showProgress = !flags.json && process.stderr.isTTY === true;
      let result: BenchResult;
      try {
        result = await runBench({
          ...target,
          connections: flags.connections,
          duration: flags.duration,
          size: flags.size,
          mode: flags.mode,
          expectPrefix: flags.verify ? flags.prefix : null,
          onProgress: showProgress ? (elapsed, replies) => process.stderr.write(progressLine(elapsed, flags.duration, replies)) : undefined,
        });
      } catch (err) {
        // The target cannot be reached, its handshake fails, or a TLS file holds no PEM: said at
        // once, nothing measured.
        if (!(err instanceof ConnectionClosedError || err instanceof TlsHandshakeError || err instanceof InvalidOptionError)) throw err;
        process.stderr.write(`reactor-server: ${err.message}\n`);
        process.exitCode = 1;
        return;
      }
      if (showProgress) process.stderr.write('\n');
      process.stdout.write(flags.json ? `${JSON.stringify(result)}\n` : `${formatResult(result)}\n`);
      const failed = failures(result);
      if (failed.length > 0) process.stderr.write(`reactor-server: bench failed: ${failed.join('; ')}\n`);
      process.exitCode = failed.length > 0 ? 1 : 0;
    });
}
