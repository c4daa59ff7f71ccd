import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/**
 * A dependency loaded on first use rather than at import. Loading a large module grows the
 * V8 young generation for good (what survives start-up sets its size), and a bigger young
 * generation means longer scavenge pauses on every reactor: a server that never serves
 * metrics or runs a pool should not pay for prom-client or piscina.
 *
 * ```ts
 * const piscina = lazyModule<typeof import('piscina')>('piscina');
 * new (piscina().Piscina)({ ... });
 * ```
 */
export function lazyModule<T>(specifier: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= require(specifier) as T);
}
