import type { AddressInfo } from 'node:net';
import type { ServerCallbacks } from '../callbacks.js';
import { InvalidOptionError } from '../core/errors.js';
import { moduleUrl } from '../pool/module-url.js';
import { NetServer } from '../server/net-server.js';
import { ReactorServer, type ReactorServerOptions } from '../server/reactor-server.js';

/** What a reactor runs: anything with a NetServer inside that starts and stops. */
export interface Application {
  readonly server: NetServer<unknown>;
  start(): Promise<AddressInfo>;
  stop(options?: { drainTimeout?: number }): Promise<void>;
}

/**
 * What an application module may export (as `default`, or under the name given):
 * - a ReactorServer subclass: constructed with the server options;
 * - a factory `(options) => ReactorServer | NetServer` (may be async);
 * - an object of NetServer callbacks.
 * Each reactor of a group loads the module and builds its own instance.
 */
export type ApplicationExport =
  | (new (options: ReactorServerOptions) => ReactorServer<unknown>)
  | ((options: ReactorServerOptions) => ReactorServer<unknown> | NetServer<unknown> | Promise<ReactorServer<unknown> | NetServer<unknown>>)
  | ServerCallbacks<unknown>;

/**
 * Builds the application named by `app` (module URL or path), or the default echo when null.
 * @throws InvalidOptionError when the module lacks the export or it is none of the above
 */
export async function loadApplication(app: string | URL | null, options: ReactorServerOptions, exportName = 'default'): Promise<Application> {
  if (app === null) return new ReactorServer(options);
  const module = (await import(moduleUrl(app))) as Record<string, unknown>;
  const exported = module[exportName];
  if (typeof exported === 'function') {
    // Duck-typed, not instanceof: the module may import its own copy of this package.
    if (typeof (exported.prototype as { processMessage?: unknown } | undefined)?.processMessage === 'function') {
      return new (exported as new (o: ReactorServerOptions) => ReactorServer<unknown>)(options);
    }
    return asApplication(await (exported as (o: ReactorServerOptions) => unknown)(options), String(app));
  }
  if (typeof exported === 'object' && exported !== null) {
    const { taskWorkers: _workers, taskModule: _module, taskExport: _export, ...serverOptions } = options;
    return wrap(new NetServer({ ...serverOptions, callbacks: exported as ServerCallbacks<unknown> }));
  }
  throw new InvalidOptionError('app', `${String(app)} has no export "${exportName}" (a ReactorServer subclass, a factory, or callbacks)`);
}

function asApplication(value: unknown, app: string): Application {
  const candidate = value as Partial<Application> & Partial<NetServer<unknown>>;
  if (candidate !== null && typeof candidate === 'object') {
    if (candidate.server !== undefined && typeof candidate.start === 'function') return candidate as Application;
    if (candidate.dispatcher !== undefined && typeof candidate.start === 'function') return wrap(candidate as NetServer<unknown>);
  }
  throw new InvalidOptionError('app', `the factory of ${app} returned neither a ReactorServer nor a NetServer`);
}

function wrap(server: NetServer<unknown>): Application {
  return { server, start: () => server.start(), stop: (options) => server.stop(options) };
}
