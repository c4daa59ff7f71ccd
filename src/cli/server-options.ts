import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import type { z as Zod } from 'zod';
import { lazyModule } from '../core/lazy-module.js';
import { LOG_LEVELS, type LogLevel } from '../ops/logging.js';
import { CODEC_NAMES, DEFAULT_OPTIONS, PROXY_PROTOCOL_MODES, type CodecName, type ProxyProtocolMode } from '../server/options.js';
import { requireInteger, requireName } from '../core/option-checks.js';
import { ConfigFileError, InvalidOptionError, UnsupportedError, type ConfigProblem } from '../core/errors.js';
import { formatHostPort } from '../core/host-port.js';
import { REUSE_PORT_SUPPORT } from '../transport/platform.js';
import { TRANSPORT_NAMES, type TransportName } from '../transport/transport-choice.js';
import { REACTORS_PER_CORE, REACTOR_MODES, defaultReactorCount, maxReactorCount, reactorCountRange, resolveGroupOptions } from '../reactors/reactor-group.js';
import { checkReactorServerOptions, type ReactorServerOptions } from '../server/reactor-server.js';
import { parseBrokerUrl } from '../broker/broker-url.js';
import { DEFAULT_OUTBOX_BYTES } from '../broker/broker.js';
import * as parse from './parsers.js';
import { controlSocketPath } from './pid-file.js';
import { TLS_CLIENT_AUTH, TLS_MIN_VERSIONS, createTlsContext, type TlsOptions } from '../transport/node-tls.js';
import { parseSniSpec, settingOfOption, sniFilesOf, tlsOptionsOf, type TlsSettings } from './tls-settings.js';

/**
 * Every setting of `reactor-server start`, defined once: its flag, its environment variable,
 * how a string becomes its value, its default, and its schema in a config file.
 * Precedence: defaults < config file < environment < flags.
 */
interface Setting {
  key: keyof StartSettings;
  flags: string;
  env: string;
  description: string;
  parse?: (value: string) => unknown;
  default?: unknown;
  /** The value's schema in a JSON config file (built on first use: zod loads only to read a file). */
  schema: (z: typeof Zod) => Zod.ZodType;
}

/** Every setting of `start`; the TLS ones are described in tls-settings.ts. */
export interface StartSettings extends TlsSettings {
  host: string;
  port: number;
  workers: number | 'auto';
  reactorMode: 'auto' | 'threads' | 'processes';
  app?: string;
  appExport: string;
  broker: string;
  brokerOutbox: number;
  instanceId?: string;
  idleTimeout: number;
  checkInterval: number;
  codec: CodecName;
  transport: TransportName;
  maxMessageBytes: number;
  /** Unset: the library's default (256 MiB, or twice maxMessageBytes when that is more). */
  maxBufferedInput?: number;
  byteOrder: 'little' | 'big';
  highWaterMark: number;
  lowWaterMark: number;
  maxPendingOutput: number;
  maxConnections: number;
  allow?: string | string[];
  deny?: string | string[];
  maxConnectionsPerIp: number;
  connectRatePerIp: number;
  maxTrackedAddresses: number;
  maxMessagesPerSecond: number;
  drainTimeout: number;
  taskWorkers: number;
  taskModule?: string;
  taskExport: string;
  logLevel: LogLevel;
  metricsPort?: number;
  metricsHost: string;
  pidFile?: string;
  proxyProtocol: ProxyProtocolMode;
  trustedProxies?: string;
  proxyHeaderTimeout: number;
  maxProxyHeaderBytes: number;
}

/**
 * zod is loaded when a config file is checked, not at start-up: the library is large, and what
 * a process loads before serving sizes its young generation, so every GC pause, for good.
 */
const zod = lazyModule<typeof import('zod')>('zod');

/** A string in a config file read as its flag would be, the parser's message as the problem. */
const viaParser = <In, T>(z: typeof Zod, parser: (value: In) => T, input: Zod.ZodType<In> = z.string() as unknown as Zod.ZodType<In>): Zod.ZodType =>
  input.transform((value, ctx) => {
    try {
      return parser(value);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
      return z.NEVER;
    }
  });
const byteSize = (z: typeof Zod): Zod.ZodType => z.union(
  [
  z.number().int().positive(),
  viaParser(z, parse.bytes),
  ],
  { error: 'must be a positive integer, or a size such as "64K" or "1M"' },
);
const portNumber = (z: typeof Zod): Zod.ZodType => z.number().int().min(0).max(65535);
const name = (z: typeof Zod): Zod.ZodType => z.string().min(1);
/** Address ranges: a comma-separated string as on the command line, or an array of ranges (checked as the library checks them). */
const ranges = (z: typeof Zod): Zod.ZodType => z.union([z.string(), z.array(z.string())], { error: 'must be a comma-separated string of addresses and CIDR ranges, or an array of them' });

export const SETTINGS: readonly Setting[] = [
  { key: 'host', flags: '--host <host>', env: 'REACTOR_HOST', description: 'address to listen on', default: DEFAULT_OPTIONS.host, schema: name },
  { key: 'port', flags: '-p, --port <port>', env: 'REACTOR_PORT', description: 'port to listen on (0 picks a free one)', parse: parse.port, default: DEFAULT_OPTIONS.port, schema: portNumber },
  {
    key: 'workers',
    flags: '-w, --workers <n|auto>',
    env: 'REACTOR_WORKERS',
    description: `sub-reactors, each with its own event loop: 1 to ${maxReactorCount()} (${REACTORS_PER_CORE} per core), or 'auto' (half the cores)`,
    parse: parse.workers,
    default: 1,
    schema: (z) => {
      const error = `must be 'auto' or ${reactorCountRange()}`;
      return z.union([z.literal('auto'), z.number().int({ error }).min(1, { error }).max(maxReactorCount(), { error })], { error });
    },
  },
  { key: 'reactorMode', flags: '--reactor-mode <mode>', env: 'REACTOR_REACTOR_MODE', description: `with --workers > 1: threads (SO_REUSEPORT: ${REUSE_PORT_SUPPORT}), processes (cluster, round-robin), or auto`, parse: parse.choice(REACTOR_MODES), default: 'auto', schema: (z) => z.enum(REACTOR_MODES) },
  { key: 'app', flags: '--app <module>', env: 'REACTOR_APP', description: 'application module every reactor runs (default: the echo)', schema: name },
  { key: 'appExport', flags: '--app-export <name>', env: 'REACTOR_APP_EXPORT', description: 'the export of --app to use', default: 'default', schema: name },
  { key: 'broker', flags: '--broker <url>', env: 'REACTOR_BROKER', description: "how broadcasts, topics and direct sends reach other reactors and instances: 'local' (this instance) or redis://HOST:PORT[/DB] (every instance on that Redis)", default: 'local', schema: name },
  { key: 'brokerOutbox', flags: '--broker-outbox <bytes>', env: 'REACTOR_BROKER_OUTBOX', description: 'messages for other instances that may wait while Redis is unreachable; past it the oldest are dropped', parse: parse.bytes, default: DEFAULT_OUTBOX_BYTES, schema: byteSize },
  { key: 'instanceId', flags: '--instance-id <id>', env: 'REACTOR_INSTANCE_ID', description: "this instance's name among those sharing a broker, in every connection's globalId (default: host name and process id)", schema: name },
  { key: 'idleTimeout', flags: '--idle-timeout <seconds>', env: 'REACTOR_IDLE_TIMEOUT', description: 'close connections silent this long (0 disables)', parse: parse.seconds, default: DEFAULT_OPTIONS.idleTimeout, schema: (z) => z.number().min(0) },
  { key: 'checkInterval', flags: '--check-interval <seconds>', env: 'REACTOR_CHECK_INTERVAL', description: 'seconds between idle checks', parse: parse.positiveSeconds, default: DEFAULT_OPTIONS.checkInterval, schema: (z) => z.number().positive() },
  { key: 'codec', flags: '--codec <name>', env: 'REACTOR_CODEC', description: `wire format: ${CODEC_NAMES.join(', ')}`, parse: parse.choice(CODEC_NAMES), default: DEFAULT_OPTIONS.codec, schema: (z) => z.enum(CODEC_NAMES) },
  {
    key: 'transport',
    flags: '--transport <name>',
    env: 'REACTOR_TRANSPORT',
    description: "sockets: bun (Bun's own, Bun only), node (node:net/node:tls), or auto (bun on Bun, else node; node in processes mode)",
    parse: parse.choice(TRANSPORT_NAMES),
    default: 'auto',
    schema: (z) => z.enum(TRANSPORT_NAMES),
  },
  { key: 'maxMessageBytes', flags: '--max-message-bytes <bytes>', env: 'REACTOR_MAX_MESSAGE_BYTES', description: 'largest inbound frame (length) or line (line)', parse: parse.positiveBytes, default: DEFAULT_OPTIONS.maxMessageBytes, schema: byteSize },
  {
    key: 'maxBufferedInput',
    flags: '--max-buffered-input <bytes>',
    env: 'REACTOR_MAX_BUFFERED_INPUT',
    description: 'unfinished input all connections of a reactor may hold; past it the largest holders are closed (default: 256M, or twice --max-message-bytes)',
    parse: parse.positiveBytes,
    schema: byteSize,
  },
  { key: 'byteOrder', flags: '--byte-order <order>', env: 'REACTOR_BYTE_ORDER', description: 'length header byte order for --codec length: little, big', parse: parse.choice(['little', 'big'] as const), default: DEFAULT_OPTIONS.byteOrder, schema: (z) => z.enum(['little', 'big']) },
  { key: 'highWaterMark', flags: '--high-water-mark <bytes>', env: 'REACTOR_HIGH_WATER_MARK', description: 'pending output above which a connection stops being read', parse: parse.bytes, default: DEFAULT_OPTIONS.highWaterMark, schema: byteSize },
  { key: 'lowWaterMark', flags: '--low-water-mark <bytes>', env: 'REACTOR_LOW_WATER_MARK', description: 'pending output below which reading resumes', parse: parse.bytes, default: DEFAULT_OPTIONS.lowWaterMark, schema: (z) => z.union([z.literal(0), byteSize(z)]) },
  { key: 'maxPendingOutput', flags: '--max-pending-output <bytes>', env: 'REACTOR_MAX_PENDING_OUTPUT', description: 'pending output above which a connection is closed', parse: parse.bytes, default: DEFAULT_OPTIONS.maxPendingOutput, schema: byteSize },
  { key: 'maxConnections', flags: '--max-connections <n>', env: 'REACTOR_MAX_CONNECTIONS', description: 'open connections (per reactor) beyond which new ones are refused; 0 = no limit', parse: parse.count, default: DEFAULT_OPTIONS.maxConnections, schema: (z) => z.number().int().min(0) },
  { key: 'allow', flags: '--allow <ranges>', env: 'REACTOR_ALLOW', description: 'only clients in these IPv4/IPv6 ranges may connect (comma-separated CIDRs or addresses)', schema: ranges },
  { key: 'deny', flags: '--deny <ranges>', env: 'REACTOR_DENY', description: 'clients in these ranges are refused, even when --allow has them', schema: ranges },
  { key: 'maxConnectionsPerIp', flags: '--max-connections-per-ip <n>', env: 'REACTOR_MAX_CONNECTIONS_PER_IP', description: 'open connections per client address, across all reactors; 0 = no limit', parse: parse.count, default: DEFAULT_OPTIONS.maxConnectionsPerIp, schema: (z) => z.number().int().min(0) },
  { key: 'connectRatePerIp', flags: '--connect-rate-per-ip <n>', env: 'REACTOR_CONNECT_RATE_PER_IP', description: 'new connections per second per client address (a burst of as many), across all reactors; 0 = no limit', parse: parse.count, default: DEFAULT_OPTIONS.connectRatePerIp, schema: (z) => z.number().int().min(0) },
  { key: 'maxTrackedAddresses', flags: '--max-tracked-addresses <n>', env: 'REACTOR_MAX_TRACKED_ADDRESSES', description: 'client addresses the per-address limits track at once (rounded up to a power of two)', parse: parse.positiveCount, default: DEFAULT_OPTIONS.maxTrackedAddresses, schema: (z) => z.number().int().min(1) },
  { key: 'maxMessagesPerSecond', flags: '--max-messages-per-second <n>', env: 'REACTOR_MAX_MESSAGES_PER_SECOND', description: 'messages per second each connection delivers; past it, reading pauses (nothing is lost); 0 = no limit', parse: parse.count, default: DEFAULT_OPTIONS.maxMessagesPerSecond, schema: (z) => z.number().int().min(0) },
  { key: 'drainTimeout', flags: '--drain-timeout <seconds>', env: 'REACTOR_DRAIN_TIMEOUT', description: 'on SIGINT/SIGTERM, seconds to let connections finish', parse: parse.seconds, default: DEFAULT_OPTIONS.drainTimeout, schema: (z) => z.number().min(0) },
  { key: 'taskWorkers', flags: '--task-workers <n>', env: 'REACTOR_TASK_WORKERS', description: 'worker threads for message handling (0 = inline on the event loop)', parse: parse.count, default: 0, schema: (z) => z.number().int().min(0) },
  { key: 'taskModule', flags: '--task-module <path>', env: 'REACTOR_TASK_MODULE', description: 'module whose export handles each message (default: the echo)', schema: name },
  { key: 'taskExport', flags: '--task-export <name>', env: 'REACTOR_TASK_EXPORT', description: 'the export of --task-module to call', default: 'default', schema: name },
  { key: 'logLevel', flags: '--log-level <level>', env: 'REACTOR_LOG_LEVEL', description: `log level: ${LOG_LEVELS.join(', ')}`, parse: parse.choice(LOG_LEVELS), default: 'info', schema: (z) => z.enum(LOG_LEVELS) },
  { key: 'metricsPort', flags: '--metrics-port <port>', env: 'REACTOR_METRICS_PORT', description: 'serve Prometheus /metrics and /health on this port (off by default)', parse: parse.port, schema: portNumber },
  { key: 'metricsHost', flags: '--metrics-host <host>', env: 'REACTOR_METRICS_HOST', description: 'address of the metrics endpoint', default: '127.0.0.1', schema: name },
  {
    key: 'pidFile',
    flags: '--pid-file <file>',
    env: 'REACTOR_PID_FILE',
    description: 'write the process id here once listening (refused while a server it names runs), and serve the control socket for status, stop and reload beside it: FILE with .pid replaced by .sock',
    schema: name,
  },
  { key: 'tlsCert', flags: '--tls-cert <file>', env: 'REACTOR_TLS_CERT', description: 'serve TLS with this certificate chain (PEM); SIGHUP re-reads it', schema: name },
  { key: 'tlsKey', flags: '--tls-key <file>', env: 'REACTOR_TLS_KEY', description: "the certificate's private key (PEM)", schema: name },
  { key: 'tlsCa', flags: '--tls-ca <file>', env: 'REACTOR_TLS_CA', description: 'CAs trusted for client certificates (PEM)', schema: name },
  { key: 'tlsClientAuth', flags: '--tls-client-auth <mode>', env: 'REACTOR_TLS_CLIENT_AUTH', description: 'client certificates: none, request, require', parse: parse.choice(TLS_CLIENT_AUTH), default: 'none', schema: (z) => z.enum(TLS_CLIENT_AUTH) },
  { key: 'tlsMinVersion', flags: '--tls-min-version <version>', env: 'REACTOR_TLS_MIN_VERSION', description: 'oldest TLS version accepted: 1.2, 1.3', parse: parse.choice(TLS_MIN_VERSIONS), default: '1.2', schema: (z) => z.enum(TLS_MIN_VERSIONS) },
  { key: 'tlsHandshakeTimeout', flags: '--tls-handshake-timeout <seconds>', env: 'REACTOR_TLS_HANDSHAKE_TIMEOUT', description: 'seconds a peer has to finish its TLS handshake', parse: parse.positiveSeconds, default: 10, schema: (z) => z.number().positive() },
  { key: 'tlsAlpn', flags: '--tls-alpn <protocols>', env: 'REACTOR_TLS_ALPN', description: 'ALPN protocols offered, comma-separated, most preferred first', schema: name },
  { key: 'proxyProtocol', flags: '--proxy-protocol <mode>', env: 'REACTOR_PROXY_PROTOCOL', description: 'PROXY protocol v1/v2 from a load balancer: off, required, optional (needs --trusted-proxies)', parse: parse.choice(PROXY_PROTOCOL_MODES), default: 'off', schema: (z) => z.enum(PROXY_PROTOCOL_MODES) },
  {
    key: 'trustedProxies',
    flags: '--trusted-proxies <cidrs>',
    env: 'REACTOR_TRUSTED_PROXIES',
    description: 'proxies whose PROXY headers are believed: CIDR ranges or addresses, comma-separated',
    // In a config file: "10.0.0.0/8,fd00::/8" or ["10.0.0.0/8", "fd00::/8"]
    schema: (z) => z.union([name(z), z.array(z.string().min(1)).min(1).transform((list) => list.join(','))]),
  },
  { key: 'proxyHeaderTimeout', flags: '--proxy-header-timeout <seconds>', env: 'REACTOR_PROXY_HEADER_TIMEOUT', description: 'seconds a connection has to send its PROXY header', parse: parse.positiveSeconds, default: DEFAULT_OPTIONS.proxyHeaderTimeout, schema: (z) => z.number().positive() },
  { key: 'maxProxyHeaderBytes', flags: '--max-proxy-header-bytes <bytes>', env: 'REACTOR_MAX_PROXY_HEADER_BYTES', description: 'longest PROXY v2 header accepted, TLVs included', parse: parse.positiveBytes, default: DEFAULT_OPTIONS.maxProxyHeaderBytes, schema: byteSize },
  {
    key: 'tlsSni',
    flags: '--tls-sni <NAME=CERT:KEY,...>',
    env: 'REACTOR_TLS_SNI',
    description: 'certificates chosen by the server name a client asks for (SNI); *.example.com covers one label; other names get --tls-cert',
    parse: parseSniSpec,
    // In a config file: { "api.example.com": { "cert": "api.crt", "key": "api.key" }, ... }
    schema: (z) => viaParser(z, sniFilesOf, z.unknown()),
  },
];

/**
 * The server options a set of settings describes (the rest is about the process around it).
 * The task options are left out while unused: an application that builds a bare NetServer
 * takes no task options, and refuses them by name when they are set.
 */
export function serverOptions(settings: StartSettings): ReactorServerOptions & { codec: StartSettings['codec']; transport: TransportName } {
  return {
    host: settings.host,
    port: settings.port,
    transport: settings.transport,
    idleTimeout: settings.idleTimeout,
    checkInterval: settings.checkInterval,
    codec: settings.codec,
    maxMessageBytes: settings.maxMessageBytes,
    ...(settings.maxBufferedInput === undefined ? {} : { maxBufferedInput: settings.maxBufferedInput }),
    byteOrder: settings.byteOrder,
    highWaterMark: settings.highWaterMark,
    lowWaterMark: settings.lowWaterMark,
    maxPendingOutput: settings.maxPendingOutput,
    maxConnections: settings.maxConnections,
    ...(settings.allow === undefined ? {} : { allow: settings.allow }),
    ...(settings.deny === undefined ? {} : { deny: settings.deny }),
    maxConnectionsPerIp: settings.maxConnectionsPerIp,
    connectRatePerIp: settings.connectRatePerIp,
    maxTrackedAddresses: settings.maxTrackedAddresses,
    maxMessagesPerSecond: settings.maxMessagesPerSecond,
    drainTimeout: settings.drainTimeout,
    proxyProtocol: settings.proxyProtocol,
    trustedProxies: settings.trustedProxies === undefined ? [] : settings.trustedProxies.split(',').map((entry) => entry.trim()),
    proxyHeaderTimeout: settings.proxyHeaderTimeout,
    maxProxyHeaderBytes: settings.maxProxyHeaderBytes,
    ...(settings.instanceId === undefined ? {} : { instanceId: settings.instanceId }),
    ...(settings.taskWorkers === 0 ? {} : { taskWorkers: settings.taskWorkers }),
    ...(settings.taskModule === undefined ? {} : { taskModule: settings.taskModule, taskExport: settings.taskExport }),
    ...tlsOf(settings),
  };
}

/** `{ tls }` when the settings turn TLS on (files read now), else nothing. */
function tlsOf(settings: StartSettings): { tls?: TlsOptions } {
  const tls = tlsOptionsOf(settings);
  return tls === undefined ? {} : { tls };
}

let fileSchema: Zod.ZodType | null = null;

/** The schema of a whole config file: every setting optional, nothing else allowed. */
function configFileSchema(): Zod.ZodType {
  const { z } = zod();
  fileSchema ??= z.strictObject(Object.fromEntries(SETTINGS.map((s) => [s.key, s.schema(z).optional()])));
  return fileSchema;
}

/** Adds every setting, and `-c, --config`, to a command. */
export function addStartSettings(command: Command): Command {
  command.addOption(new Option('-c, --config <file>', 'JSON file of settings (flags and REACTOR_* variables override it)').env('REACTOR_CONFIG'));
  for (const setting of SETTINGS) {
    const option = new Option(setting.flags, setting.description).env(setting.env);
    if (setting.parse !== undefined) option.argParser(setting.parse);
    if (setting.default !== undefined) option.default(setting.default);
    command.addOption(option);
  }
  // The file is read once the flags and environment are known, and only fills what they left at default.
  command.hook('preAction', (cmd) => {
    const file = cmd.getOptionValue('config') as string | undefined;
    if (file === undefined) return;
    // Rules between settings wait for the merged values: a flag may fix what the file alone breaks.
    const values = readConfigFile(file, false);
    for (const [key, value] of Object.entries(values)) {
      const source = cmd.getOptionValueSource(key);
      if (source === undefined || source === 'default') cmd.setOptionValueWithSource(key, value, 'config');
    }
  });
  return command;
}

/**
 * Checks a config file's contents: unknown keys, types and ranges, then (with `crossCheck`)
 * everything `start` checks (`checkSettings`), taking defaults for what the file leaves out.
 */
export function checkConfig(raw: unknown, crossCheck = true): { values: Partial<StartSettings>; problems: ConfigProblem[] } {
  const parsed = configFileSchema().safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.flatMap((issue): ConfigProblem[] => {
      if (issue.code === 'unrecognized_keys') return issue.keys.map((key) => ({ key, message: 'unknown setting' }));
      return [{ key: issue.path.length > 0 ? issue.path.map(String).join('.') : '(file)', message: issue.message }];
    });
    return { values: {}, problems };
  }
  const values = parsed.data as Partial<StartSettings>;
  return { values, problems: crossCheck ? checkSettings({ ...defaultSettings(), ...values }) : [] };
}

/** Every setting at its default (the ones without a default are left out). */
export function defaultSettings(): StartSettings {
  return Object.fromEntries(SETTINGS.filter((s) => s.default !== undefined).map((s) => [s.key, s.default])) as unknown as StartSettings;
}

/**
 * Every check `start` makes before it starts anything, on a complete set of settings: the
 * server and task options and the reactors (how many, in which mode) exactly as the library
 * checks them for what `start` would build, then the metrics endpoint. `config` and
 * `validate` run the same checks.
 * @returns the problems, each naming its setting; none when `start` would go ahead
 */
export function checkSettings(settings: StartSettings): ConfigProblem[] {
  const count = settings.workers === 'auto' ? defaultReactorCount() : settings.workers;
  return [
    problemOf(() => {
      // One reactor runs the application in this process, more run it in a ReactorGroup.
      if (count === 1) checkReactorServerOptions(serverOptions(settings));
      else {
        const { workers, reactorMode, app, appExport, logLevel } = settings;
        resolveGroupOptions({ ...serverOptions(settings), workers, reactorMode, app, appExport, logLevel });
      }
    }),
    problemOf(() => {
      // The material itself: readable, PEM, and a key that goes with its certificate.
      const tls = tlsOptionsOf(settings);
      if (tls !== undefined) createTlsContext(tls);
    }),
    problemOf(() => checkMetricsEndpoint(settings)),
    problemOf(() => checkPidFile(settings)),
    problemOf(() => {
      parseBrokerUrl(settings.broker);
      requireInteger('brokerOutbox', settings.brokerOutbox, 1024, Number.MAX_SAFE_INTEGER);
    }),
  ]
    .filter((problem): problem is ConfigProblem => problem !== null)
    // An unreadable TLS file fails both the server options and the material check: say it once.
    .filter((problem, i, all) => all.findIndex((p) => p.key === problem.key && p.message === problem.message) === i);
}

/** @throws InvalidOptionError when the metrics endpoint cannot be served as set */
function checkMetricsEndpoint({ metricsPort, metricsHost, host, port }: StartSettings): void {
  requireName('metricsHost', metricsHost);
  if (metricsPort === undefined) return;
  requireInteger('metricsPort', metricsPort, 0, 65535);
  if (metricsPort !== 0 && metricsPort === port && metricsHost === host) {
    throw new InvalidOptionError('metricsPort', `must differ from port: both are ${host}:${port}`);
  }
}

/**
 * The longest path a UNIX socket may have: `sun_path` holds 108 bytes on Linux, 104 on macOS
 * and the BSDs, the terminating NUL included.
 */
const MAX_SOCKET_PATH_BYTES = process.platform === 'linux' ? 107 : 103;

/** @throws InvalidOptionError when the control socket beside the pid file cannot be listened on */
function checkPidFile({ pidFile }: StartSettings): void {
  if (pidFile === undefined) return;
  requireName('pidFile', pidFile);
  if (process.platform === 'win32') throw new UnsupportedError('the pid file and its control socket need UNIX sockets: not on Windows', 'pidFile');
  const socket = controlSocketPath(resolve(pidFile));
  const bytes = Buffer.byteLength(socket);
  if (bytes > MAX_SOCKET_PATH_BYTES) {
    throw new InvalidOptionError('pidFile', `its control socket ${socket} is ${bytes} bytes long; a UNIX socket path may have at most ${MAX_SOCKET_PATH_BYTES}: use a shorter path`);
  }
}

/** The problem `check` throws, as a ConfigProblem naming its setting; null when it passes. */
function problemOf(check: () => void): ConfigProblem | null {
  try {
    check();
    return null;
  } catch (err) {
    if (err instanceof InvalidOptionError) return { key: settingOfOption(err.option), message: err.reason };
    if (err instanceof UnsupportedError && err.option !== undefined) return { key: err.option, message: err.message };
    throw err;
  }
}

/**
 * What `start` does first: with settings it would refuse, it says why on stderr and exits 1
 * before starting anything.
 */
export function refuseBadSettings(settings: StartSettings): void {
  const problems = checkSettings(settings);
  if (problems.length === 0) return;
  for (const problem of problems) process.stderr.write(`reactor-server: cannot start on ${formatHostPort(settings.host, settings.port)}: ${describeProblem(problem)}\n`);
  process.exit(1);
}

/** A problem as `start` and `config` report it. */
export function describeProblem(problem: ConfigProblem): string {
  return `invalid option ${problem.key}: ${problem.message}`;
}

/**
 * Reads and checks a JSON config file.
 * @throws ConfigFileError naming each bad key (or the file, when it cannot be read or parsed)
 */
export function readConfigFile(file: string, crossCheck = true): Partial<StartSettings> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigFileError(file, [{ key: '(file)', message: (err as Error).message }]);
  }
  const { values, problems } = checkConfig(raw, crossCheck);
  if (problems.length > 0) throw new ConfigFileError(file, problems);
  return values;
}
