export { ByteBuffer } from './core/byte-buffer.js';
export { Dispatcher, type DispatcherOptions, type Task, type TopicHandler } from './core/dispatcher.js';
export type { RegisteredConnection } from './core/registered-connection.js';
export { RemoteDispatcher } from './core/remote-dispatcher.js';
export type { DispatcherMessage } from './core/dispatcher-message.js';
export type { LoopStats } from './core/loop-stats.js';
export { HANDSHAKE_SECONDS_BUCKETS, type TlsStats } from './core/tls-stats.js';
export { Acceptor, type AcceptorOptions } from './transport/node-listener.js';
export { nodeNetTransport } from './transport/node-net.js';
export { bunTransport } from './transport/bun-net.js';
export { TRANSPORT_NAMES, type TransportName } from './transport/transport-choice.js';
export { nodeTlsTransport, createTlsContext, type TlsOptions, type TlsMaterial, type TlsCertificate } from './transport/node-tls.js';
export type { Transport, TransportDriver, TransportSink, TransportListener, ListenerOptions, TlsInfo, HandshakeFailure, HandshakeObserver } from './transport/transport.js';
export type { Payload } from './core/payload.js';
export type { Codec, Decoder, MessageSink } from './net/codec.js';
export { Connection, type ConnectionState } from './net/connection.js';
export { SeedCodec, MAX_FRAME_PAYLOAD } from './net/seed-codec.js';
export { LengthCodec, type ByteOrder } from './net/length-codec.js';
export { LineCodec } from './net/line-codec.js';
export { CidrList } from './net/cidr-list.js';
export {
  PP2_TYPE,
  PP2_SUBTYPE_SSL,
  PP2_CLIENT,
  DEFAULT_MAX_PROXY_HEADER_BYTES,
  type ProxyHeader,
  type ProxyVersion,
  type ProxyCommand,
  type ProxyFamily,
  type ProxyEndpoint,
  type ProxyTlv,
  type ProxyTlvs,
  type ProxySslInfo,
  type ProxyParseResult,
} from './proxy/proxy-header.js';
export { parseProxyHeader, detectProxyHeader, type ProxyHeaderDetection, type ProxyParseOptions } from './proxy/proxy-header-parser.js';
export { ProxyHeaderReader, type ProxyHeaderReaderOptions, type ProxyHeaderMode, type ProxyReadResult } from './proxy/proxy-header-reader.js';
export { encodeProxyHeader, encodeSslTlv, type ProxyHeaderInit, type ProxyTlvInit, type ProxySslInit } from './proxy/proxy-header-encoder.js';
export type { AcceptedPeer, ProxyInfo } from './transport/proxy-gate.js';
export { supportsReusePort, REUSE_PORT_SUPPORT, migratesQueuedConnections } from './transport/platform.js';
export {
  ReactorError,
  HandlerError,
  InvalidOptionError,
  UnknownOptionError,
  ServerStateError,
  UnsupportedError,
  ProtocolError,
  ProxyProtocolError,
  type ProxyProtocolReason,
  FrameTooLargeError,
  LineTooLongError,
  OutputOverflowError,
  InputBudgetExceededError,
  DescriptorLimitError,
  RequestTimeoutError,
  ConnectionClosedError,
  EmptyMessageError,
  TlsHandshakeError,
  PoolStoppedError,
  PoolStateError,
  WorkerCrashError,
  ReactorStartError,
  PayloadTooLargeError,
  ConfigFileError,
  type ConfigProblem,
  ControlSocketError,
  type ControlSocketFailure,
} from './core/errors.js';
export { ThreadPool, defaultPoolSize, maxPoolSize, type TaskRef, type Transfer } from './pool/thread-pool.js';
export { isPoolStopping } from './pool/pool-context.js';
export { NetServer, type NetServerOptions, type ServerLifecycle, type GroupLink, type BrokerLink, type ServerObserver, type Peer, type AddressTracking } from './server/net-server.js';
export type { WirePayload } from './server/broker-link.js';
export { defaultInstanceId, formatConnectionId, parseConnectionId } from './core/connection-id.js';
export { Broker, attachBroker, resolveBrokerOptions, DEFAULT_OUTBOX_BYTES, DEFAULT_PROBE_INTERVAL_MS, type BrokerOptions, type BrokerStatus } from './broker/broker.js';
export { parseBrokerUrl, type BrokerTarget } from './broker/broker-url.js';
export { MESSAGE_CLASSES, DROP_REASONS, ROUND_TRIP_SECONDS_BUCKETS, type MessageClass, type DropReason, type BusState, type BusStats } from './broker/bus.js';
export {
  ReactorGroup,
  defaultReactorCount,
  restartDelay,
  DEFAULT_RESTART_BACKOFF,
  maxReactorCount,
  type ReactorGroupOptions,
  type ReactorInfo,
  type ReactorExit,
  type ReactorStatus,
  type RestartBackoff,
  type ReactorMode,
  type GroupStats,
  type ReactorStats,
  type ReplacedReactorInfo,
} from './reactors/reactor-group.js';
export { LIVE_OPTION_NAMES, type LiveOptions, type LiveOptionName } from './server/live-options.js';
export { loadApplication, type Application, type ApplicationExport } from './reactors/app-loader.js';
export { ReactorServer, REPLY_PREFIX, type ReactorServerOptions, type MessageHandler } from './server/reactor-server.js';
export { DEFAULT_OPTIONS, CODEC_NAMES, PROXY_PROTOCOL_MODES, createCodec, resolveOptions, type ServerOptions, type CodecName, type ProxyProtocolMode } from './server/options.js';
export type * from './callbacks.js';
export { Client, connect, type ClientOptions } from './client/client.js';
export type { ClientTlsOptions } from './client/client-tls.js';
export { runBench, type BenchOptions, type BenchResult, type BenchMode } from './load/load-driver.js';
export { createLogger, loggingObserver, LOG_LEVELS, type LogLevel } from './ops/logging.js';
export { createRegistry, startMetricsServer, serverMetricsSource, healthAnswer, eventLoopLagMeter, type MetricsSource, type MetricsServer, type ReactorSample, type HealthReport } from './ops/metrics.js';
