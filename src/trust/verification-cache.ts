import { copyBytes, type Bytes } from '../encoding.js';
import { systemClock, type Clock } from './clock.js';
import { TrustConfigError } from './errors.js';

/** A peer that proved its key and passed a threshold. */
export interface PeerVerification {
  readonly peerDid: string;
  /** The Ed25519 key the peer proved it holds. */
  readonly publicKey: Bytes;
  readonly trustScore: number;
  /** The threshold this verification passed; it vouches for no higher one. */
  readonly threshold: number;
  readonly verifiedAt: number;
}

export const DEFAULT_VERIFICATION_TTL_MS = 15 * 60 * 1000;
const DEFAULT_MAX_ENTRIES = 10_000;

/**
 * Recent verifications by peer DID. Reused only within the TTL and only for a threshold at or
 * below the one passed: a pass at 500 says nothing about 900 (the reference ignored this).
 */
export class VerificationCache {
  readonly #entries = new Map<string, PeerVerification>();
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  readonly #now: Clock;

  constructor(options: { ttlMs?: number; maxEntries?: number; now?: Clock } = {}) {
    const ttl = options.ttlMs ?? DEFAULT_VERIFICATION_TTL_MS;
    if (!Number.isFinite(ttl) || ttl < 0) throw new TrustConfigError('the verification TTL must be a non-negative number of ms');
    this.#ttlMs = ttl;
    this.#maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
    this.#now = options.now ?? systemClock;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** A fresh verification of `peerDid` that passed at least `threshold`, or null. */
  get(peerDid: string, threshold: number): PeerVerification | null {
    const entry = this.#fresh(peerDid);
    return entry && entry.threshold >= threshold ? copy(entry) : null;
  }

  /** The key a fresh verification proved, whatever threshold it passed. */
  provenKey(peerDid: string): Bytes | null {
    const entry = this.#fresh(peerDid);
    return entry ? copyBytes(entry.publicKey) : null;
  }

  set(verification: PeerVerification): void {
    if (this.#ttlMs === 0) return;
    this.#entries.delete(verification.peerDid);
    this.#entries.set(verification.peerDid, copy(verification));
    // Oldest insertion first: evict it when full.
    if (this.#entries.size > this.#maxEntries) this.#entries.delete(this.#entries.keys().next().value!);
  }

  delete(peerDid: string): boolean {
    return this.#entries.delete(peerDid);
  }

  clear(): void {
    this.#entries.clear();
  }

  #fresh(peerDid: string): PeerVerification | null {
    const entry = this.#entries.get(peerDid);
    if (!entry) return null;
    if (this.#now() - entry.verifiedAt >= this.#ttlMs) {
      this.#entries.delete(peerDid);
      return null;
    }
    return entry;
  }
}

function copy(v: PeerVerification): PeerVerification {
  return { ...v, publicKey: copyBytes(v.publicKey) };
}
