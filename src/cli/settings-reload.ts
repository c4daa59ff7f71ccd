/**
 * What `reload` and SIGHUP do to a running `start`: read the settings again as at start
 * (defaults < config file < REACTOR_* variables < flags; the variables and flags are those the
 * process started with, so only the file can have changed), check all of them as `start`
 * would, then apply what can change while serving, in every reactor, and say what could not.
 * Nothing is applied unless everything checks out, and a step that fails (a metrics port in
 * use, TLS files that do not load) undoes nothing because it comes before the others.
 */
import type { Logger } from 'pino';
import { ConfigFileError, InvalidOptionError } from '../core/errors.js';
import type { LogLevel } from '../ops/logging.js';
import { changedLiveOptions, checkLiveChanges, type LiveOptions } from '../server/live-options.js';
import { resolveOptions } from '../server/options.js';
import type { TlsOptions } from '../transport/node-tls.js';
import type { ReloadReport, ReplacedReactor, RestartRequired } from './control-protocol.js';
import { checkSettings, defaultSettings, readConfigFile, serverOptions, type StartSettings } from './server-options.js';
import { settingOfOption, tlsOptionsOf } from './tls-settings.js';

/** What a reload changes in the running server. */
export interface ReloadTarget {
  /** New live options and reactor log level; resolves once every reactor has them (and everything sent to the reactors before). */
  reconfigure(changes: LiveOptions, logLevel: LogLevel): Promise<void>;
  /** New TLS material for new handshakes. @throws for bad material (nothing changes) */
  reloadTls(material: TlsOptions): void;
  /** Replaces the reactors so that application and task modules load afresh; null with one reactor (it runs in this process). */
  replaceReactors: (() => Promise<ReplacedReactor[]>) | null;
  /** Serves the metrics endpoint at a new place (or none); the new one is listening before the old one closes. @throws when it cannot listen */
  moveMetrics(port: number | undefined, host: string): Promise<void>;
  /** The CLI's own log level. */
  setLogLevel(level: LogLevel): void;
}

/** The TLS files re-read by every reload (rotation), and turned on or off only by a restart. */
const TLS_MATERIAL = ['tlsCert', 'tlsKey', 'tlsCa', 'tlsSni'] as const satisfies readonly (keyof StartSettings)[];
/** Settings a reload applies itself, besides the live server options. */
const RELOADED_HERE = new Set<string>([...TLS_MATERIAL, 'logLevel', 'metricsPort', 'metricsHost']);

export class SettingsReload {
  /** The settings in force: those of the last reload, less what it could not apply. */
  private inForce: StartSettings;
  private queue: Promise<unknown> = Promise.resolve();

  /**
   * @param settings the settings `start` runs with
   * @param pinned the values that came from flags and REACTOR_* variables: they win over the file at every reload
   * @param configFile the config file `start` read, if any
   */
  constructor(
    settings: StartSettings,
    private readonly pinned: Partial<StartSettings>,
    private readonly configFile: string | undefined,
    private readonly target: ReloadTarget,
    private readonly logger: Logger,
    /** Counts TLS reloads for the metric reactor_tls_reloads_total. */
    private readonly tlsReloads: { succeeded: number; failed: number },
  ) {
    this.inForce = { ...settings };
  }

  /** The settings in force now. */
  get settings(): Readonly<StartSettings> {
    return this.inForce;
  }

  /** Reloads; a reload asked for while one runs starts when that one has ended. Never rejects. */
  reload(trigger: string): Promise<ReloadReport> {
    const run = this.queue.then(() =>
      this.reloadNow(trigger).catch((err: unknown) =>
        // A stop begun meanwhile, say: the server cannot take the change; what it runs with is unchanged or being stopped.
        this.refused(trigger, { ok: false, problems: [{ key: '(server)', message: err instanceof Error ? err.message : String(err) }], applied: [], restartRequired: [], replaced: [] }),
      ),
    );
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async reloadNow(trigger: string): Promise<ReloadReport> {
    const report: ReloadReport = { ok: true, problems: [], applied: [], restartRequired: [], replaced: [] };
    const next = this.readSettings(report);
    if (next === null) {
      const tlsProblem = report.problems.find((problem) => (TLS_MATERIAL as readonly string[]).includes(problem.key));
      if (tlsProblem !== undefined && this.inForce.tlsCert !== undefined) {
        this.tlsReloads.failed++;
        this.logger.error({ setting: tlsProblem.key, problem: tlsProblem.message }, 'tls reload failed; the old material stays in use');
      }
      return this.refused(trigger, report);
    }
    const current = this.inForce;
    const changed = (key: keyof StartSettings): boolean => JSON.stringify(current[key]) !== JSON.stringify(next[key]);

    // Live server options, less the changes a running server cannot make (a per-address limit turning on or off).
    const running = resolveOptions(serverOptionsOnly(current));
    const wanted = resolveOptions(serverOptionsOnly(next));
    const live: Record<string, unknown> = Object.fromEntries(changedLiveOptions(running, wanted).map((name) => [name, wanted[name]]));
    const restartOnly = new Set<string>();
    for (;;) {
      try {
        checkLiveChanges(running, live);
        break;
      } catch (err) {
        if (!(err instanceof InvalidOptionError) || !(err.option in live)) throw err;
        restartOnly.add(err.option);
        delete live[err.option];
      }
    }
    for (const key of Object.keys(next) as (keyof StartSettings)[]) {
      if (!changed(key) || key in live || RELOADED_HERE.has(key)) continue;
      restartOnly.add(key);
    }
    const tlsWasOn = current.tlsCert !== undefined;
    if (tlsWasOn !== (next.tlsCert !== undefined)) restartOnly.add('tlsCert');
    report.restartRequired = [...restartOnly].sort().map((key): RestartRequired => ({ key, running: current[key as keyof StartSettings], wanted: next[key as keyof StartSettings] }));

    // Each step that can fail comes before those that cannot: a failure leaves everything as it was.
    const metricsMoved = changed('metricsPort') || changed('metricsHost');
    if (metricsMoved) {
      try {
        await this.target.moveMetrics(next.metricsPort, next.metricsHost);
      } catch (err) {
        report.problems.push({ key: 'metricsPort', message: `cannot serve metrics there: ${(err as Error).message}` });
        return this.refused(trigger, report);
      }
      report.applied.push(...(['metricsPort', 'metricsHost'] as const).filter(changed));
    }
    if (tlsWasOn && next.tlsCert !== undefined) {
      const problem = this.reloadTls(next);
      if (problem !== null) {
        if (metricsMoved) await this.target.moveMetrics(current.metricsPort, current.metricsHost).catch(() => undefined);
        report.problems.push(problem);
        report.applied = [];
        return this.refused(trigger, report);
      }
      report.applied.push(...TLS_MATERIAL.filter((key) => next[key] !== undefined));
    }
    // Also the barrier for the TLS material: each reactor answers after applying what came before.
    await this.target.reconfigure(live, next.logLevel);
    this.target.setLogLevel(next.logLevel);
    report.applied.push(...Object.keys(live));
    if (changed('logLevel')) report.applied.push('logLevel');
    report.applied.sort();

    this.inForce = { ...next, ...Object.fromEntries([...restartOnly].map((key) => [key, current[key as keyof StartSettings]])) };
    if (this.target.replaceReactors !== null) {
      try {
        report.replaced = await this.target.replaceReactors();
      } catch (err) {
        // The settings above are in force; the reactors that could not be replaced serve on with the code they had.
        report.ok = false;
        report.problems.push({ key: 'app', message: `a new reactor could not start, so the old one serves on: ${(err as Error).message}` });
      }
    }
    this.log(trigger, report);
    return report;
  }

  /** The settings as `start` would read them now; null (with the problems in `report`) when they do not check out. */
  private readSettings(report: ReloadReport): StartSettings | null {
    let fromFile: Partial<StartSettings> = {};
    if (this.configFile !== undefined) {
      try {
        fromFile = readConfigFile(this.configFile, false);
      } catch (err) {
        if (!(err instanceof ConfigFileError)) throw err;
        report.problems.push(...err.problems.map((problem) => ({ key: problem.key, message: `${this.configFile}: ${problem.message}` })));
        return null;
      }
    }
    const next = { ...defaultSettings(), ...fromFile, ...this.pinned } as StartSettings;
    const problems = checkSettings(next);
    if (problems.length > 0) {
      report.problems.push(...problems);
      return null;
    }
    return next;
  }

  /** Re-reads the TLS files into every reactor; the problem, or null when they are in use. */
  private reloadTls(next: StartSettings): { key: string; message: string } | null {
    try {
      this.target.reloadTls(tlsOptionsOf(next) as TlsOptions);
      this.tlsReloads.succeeded++;
      this.logger.info({ cert: next.tlsCert }, 'tls material reloaded');
      return null;
    } catch (err) {
      this.tlsReloads.failed++;
      const problem = err as { option?: string; reason?: string; message: string };
      const key = problem.option === undefined ? 'tlsCert' : settingOfOption(problem.option);
      this.logger.error({ setting: key, err }, 'tls reload failed; the old material stays in use');
      return { key, message: problem.reason ?? problem.message };
    }
  }

  private refused(trigger: string, report: ReloadReport): ReloadReport {
    report.ok = false;
    this.logger.error({ trigger, problems: report.problems }, 'reload refused: the settings in force are kept');
    return report;
  }

  private log(trigger: string, report: ReloadReport): void {
    const { applied, restartRequired, replaced } = report;
    const replacedIds = replaced.map((r) => `${r.index}:${r.from}->${r.to}`);
    this.logger.info({ trigger, applied, replaced: replacedIds }, report.ok ? 'reloaded' : 'reloaded in part');
    for (const { key, running, wanted } of restartRequired) this.logger.warn({ setting: key, running, wanted }, `${key} changed but needs a restart: the running value stays`);
    for (const problem of report.problems) this.logger.error({ setting: problem.key }, problem.message);
  }
}

/** The server options of the settings, without the TLS material (whose files are read by tlsOptionsOf only when needed). */
function serverOptionsOnly(settings: StartSettings): Record<string, unknown> {
  const { tls: _tls, taskWorkers: _w, taskModule: _m, taskExport: _e, instanceId: _i, transport: _t, ...options } = serverOptions({ ...settings, tlsCert: undefined, tlsKey: undefined, tlsCa: undefined, tlsSni: undefined, tlsAlpn: undefined, tlsClientAuth: 'none' });
  return options;
}
