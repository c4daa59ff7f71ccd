/**
 * Who may connect: the decision a server takes once per new connection, from the client's
 * address alone. The address lists first (`deny`, then `allow`: a local, synchronous lookup),
 * then the per-address limits of the whole server through an `AddressLimiter`: a table on this
 * thread, a table shared with the other reactor threads, or the group's supervisor asked over
 * IPC (then the answer is a promise).
 */
import { CidrList } from '../net/cidr-list.js';
import type { AddressLimits, AddressRefusal, AddressTable } from './address-table.js';

/** Why admission control refused a connection. */
export type AdmissionRefusal = 'deny' | 'allow' | AddressRefusal;

/** The per-address limits of the whole server, wherever their state lives. */
export interface AddressLimiter {
  /**
   * Admits one new connection from `address`, or says why not; a promise when the state lives
   * elsewhere (the supervisor of a processes group).
   */
  acquire(address: string): AddressRefusal | null | Promise<AddressRefusal | null>;
  /** One admitted connection from `address` closed. */
  release(address: string): void;
  /** False when nothing is counted per open connection (only a rate): `release` can be skipped. */
  readonly countsConnections: boolean;
}

/** The admission options of a server (see ServerOptions). */
export interface AdmissionOptions {
  allow: string | readonly string[];
  deny: string | readonly string[];
  maxConnectionsPerIp: number;
  connectRatePerIp: number;
  maxTrackedAddresses: number;
}

/** The per-address limits the options set, or null when they set none. */
export function addressLimitsOf(options: AdmissionOptions): AddressLimits | null {
  const { maxConnectionsPerIp, connectRatePerIp } = options;
  return maxConnectionsPerIp > 0 || connectRatePerIp > 0 ? { maxConnectionsPerIp, connectRatePerIp } : null;
}

/** A table used by one reactor, under its index. */
export function tableLimiter(table: AddressTable, reactor: number): AddressLimiter {
  return {
    acquire: (address) => table.acquire(address, reactor),
    release: (address) => table.release(address, reactor),
    countsConnections: table.countsConnections,
  };
}

export class AdmissionControl {
  private readonly allow: CidrList | null;
  private readonly deny: CidrList | null;

  /**
   * @param limiter the per-address limits, or null for the lists alone
   * @throws InvalidOptionError naming `allow` or `deny` for a bad range
   */
  constructor(
    options: Pick<AdmissionOptions, 'allow' | 'deny'>,
    private readonly limiter: AddressLimiter | null,
  ) {
    const allow = CidrList.parse(options.allow, 'allow');
    const deny = CidrList.parse(options.deny, 'deny');
    this.allow = allow.size === 0 ? null : allow;
    this.deny = deny.size === 0 ? null : deny;
  }

  /** True when the options ask for any admission control at all. */
  static wanted(options: AdmissionOptions): boolean {
    return addressLimitsOf(options) !== null || CidrList.parse(options.allow, 'allow').size > 0 || CidrList.parse(options.deny, 'deny').size > 0;
  }

  /** True when every admitted connection must be `released` when it closes. */
  get countsConnections(): boolean {
    return this.limiter !== null && this.limiter.countsConnections;
  }

  /**
   * Decides on a new connection from `address` (an address in `deny` is refused even when
   * `allow` has it too; with an `allow` list, only addresses in it get in).
   * @returns null when admitted, else why not; a promise when the limiter answers later
   */
  admit(address: string): AdmissionRefusal | null | Promise<AdmissionRefusal | null> {
    if (this.deny !== null && this.deny.contains(address)) return 'deny';
    if (this.allow !== null && !this.allow.contains(address)) return 'allow';
    return this.limiter === null ? null : this.limiter.acquire(address);
  }

  /** A connection that `admit` admitted has closed. */
  released(address: string): void {
    if (this.limiter !== null && this.limiter.countsConnections) this.limiter.release(address);
  }
}
