import type { Command } from 'commander';
import { runBench, type BenchOptions, type BenchResult } from '../load/load-driver.js';
import { failures, formatResult, progressLine } from '../load/report.js';
import { ConnectionClosedError, InvalidOptionError, TlsHandshakeError } from '../core/errors.js';
import { DEFAULT_OPTIONS } from '../server/options.js';
import { REPLY_PREFIX } from '../pool/reply-prefix.js';
import * as parse from './parsers.js';
import { addTlsClientOptions, tlsFromFlags, type TlsClientFlags } from './tls-client-options.js';
import { addWireOptions, type WireFlags } from './wire-options.js';

/** The driver's options as the flags give them, plus what only the command needs. */
type BenchFlags = Pick<BenchOptions, 'host' | 'port' | 'connections' | 'duration' | 'size' | 'mode'> & WireFlags & TlsClientFlags & {
  prefix: string;
  verify: boolean;
  json: boolean;
};

export function addBenchCommand(program: Command): void {
  const command = program
    .command('bench')
    .description('measure a server: throughput, connection rate and latency percentiles, every reply verified')
    .option('--host <host>', 'server address', DEFAULT_OPTIONS.host)
    .option('-p, --port <port>', 'server port', parse.port, DEFAULT_OPTIONS.port)
    .option('-c, --connections <n>', 'concurrent connections (connect mode: concurrent sessions)', parse.positiveCount, 100)
    .option('-d, --duration <seconds>', 'seconds of load', parse.positiveSeconds, 10)
    .option('-s, --size <bytes>', 'request payload size', parse.positiveBytes, 16)
    .option('-m, --mode <mode>', 'pingpong (one request in flight per connection), connect (connect/send/receive/close), hold (open, one round trip, stay open)', parse.choice(['pingpong', 'connect', 'hold'] as const), 'pingpong');
  addWireOptions(command)
    .option('--prefix <text>', 'what the server puts in front of each echoed request', REPLY_PREFIX)
    .option('--no-verify', 'do not check replies (for servers that are not echoes)')
    .option('--json', 'print the result as JSON');
  addTlsClientOptions(command)
    .action(async (flags: BenchFlags) => {
      const tls = tlsFromFlags(flags, (problem) => command.error(`error: ${problem}`));
      const showProgress = !flags.json && process.stderr.isTTY === true;
      let result: BenchResult;
      try {
        result = await runBench({
          host: flags.host,
          port: flags.port,
          connections: flags.connections,
          duration: flags.duration,
          size: flags.size,
          mode: flags.mode,
          codec: flags.codec,
          byteOrder: flags.byteOrder,
          maxMessageBytes: flags.maxMessageBytes,
          expectPrefix: flags.verify ? flags.prefix : null,
          tls,
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
