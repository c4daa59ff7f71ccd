/**
 * Certificates chosen by the server name a client asks for (SNI): one secure context per name,
 * looked up by exact name, then by a wildcard one label deep (`*.example.com` covers
 * `api.example.com`, not `example.com` nor `a.b.example.com`, as certificates do). A name
 * nobody configured gets the default certificate.
 */
import type { SecureContext } from 'node:tls';

/** A DNS name, or a wildcard in its first label only. */
const SERVER_NAME = /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;

/** True for a name an SNI map may hold: `example.com`, `*.example.com`. */
export function isServerNamePattern(name: string): boolean {
  return name.length <= 253 && SERVER_NAME.test(name);
}

export class SniContexts {
  private readonly contexts: ReadonlyMap<string, SecureContext>;

  /** @param contexts by lower-case name or wildcard pattern */
  constructor(contexts: ReadonlyMap<string, SecureContext>) {
    this.contexts = contexts;
  }

  /** Builds every context at once (`build` throws for bad material, naming the entry). */
  static from<E>(entries: Record<string, E>, build: (name: string, entry: E) => SecureContext): SniContexts {
    const contexts = new Map<string, SecureContext>();
    for (const [name, entry] of Object.entries(entries)) contexts.set(name.toLowerCase(), build(name, entry));
    return new SniContexts(contexts);
  }

  get size(): number {
    return this.contexts.size;
  }

  /** The context for `servername`, or undefined for the default one. */
  lookup(servername: string): SecureContext | undefined {
    const name = servername.toLowerCase();
    const exact = this.contexts.get(name);
    if (exact !== undefined) return exact;
    const dot = name.indexOf('.');
    return dot <= 0 ? undefined : this.contexts.get(`*${name.slice(dot)}`);
  }
}
