import { ed25519PublicKeyProblem, getDefaultCryptoProvider, isValidEd25519PublicKey, type CryptoProvider } from '../crypto/index.js';
import { copyBytes, type Bytes } from '../encoding.js';
import { checkDidKey, parseDid } from '../identity/did.js';
import { TrustConfigError, TrustError } from './errors.js';

export const MIN_TRUST_SCORE = 0;
export const MAX_TRUST_SCORE = 1000;

/**
 * Where trust scores (0–1000) and known keys come from: a static map, a registry, a reputation
 * service. Answers are untrusted input to the verifier, which range-checks them.
 */
export interface TrustProvider {
  /** The peer's score, or null when this provider does not know it. */
  getTrustScore(did: string): Promise<number | null>;
  /**
   * The Ed25519 key this provider knows `did` by, or null. Legacy `did:mesh:` names prove nothing
   * about a key, so the handshake accepts them only with a key known here.
   */
  getPublicKey(did: string): Promise<Uint8Array | null>;
}

export function assertTrustScore(score: unknown, what: string): asserts score is number {
  if (typeof score !== 'number' || !Number.isInteger(score) || score < MIN_TRUST_SCORE || score > MAX_TRUST_SCORE) {
    throw new TrustConfigError(`${what} must be an integer from ${MIN_TRUST_SCORE} to ${MAX_TRUST_SCORE}`);
  }
}

/** A provider's score for `did`, with provider failures and out-of-range answers as `provider_error`. */
export async function lookUpScore(provider: TrustProvider, did: string): Promise<number | null> {
  let score: unknown;
  try {
    score = await provider.getTrustScore(did);
  } catch (cause) {
    throw new TrustError('provider_error', `the trust provider failed for ${did}`, { peerDid: did, cause });
  }
  if (score === null || score === undefined) return null;
  if (typeof score !== 'number' || !Number.isInteger(score) || score < MIN_TRUST_SCORE || score > MAX_TRUST_SCORE) {
    throw new TrustError('provider_error', `the trust provider returned a score outside 0–1000 for ${did}`, { peerDid: did });
  }
  return score;
}

/** A provider's key for `did`, with failures and malformed keys as `provider_error`. */
export async function lookUpKey(provider: TrustProvider, did: string): Promise<Bytes | null> {
  let key: unknown;
  try {
    key = await provider.getPublicKey(did);
  } catch (cause) {
    throw new TrustError('provider_error', `the trust provider failed for ${did}`, { peerDid: did, cause });
  }
  if (key === null || key === undefined) return null;
  if (!(key instanceof Uint8Array) || key.length !== 32) {
    throw new TrustError('provider_error', `the trust provider returned a malformed key for ${did}`, { peerDid: did });
  }
  return copyBytes(key);
}

export interface StaticTrustEntry {
  readonly score: number;
  readonly publicKey?: Uint8Array;
}

/** A fixed map from DID to score (and, for legacy names, key). For tests and closed deployments. */
export class StaticTrustProvider implements TrustProvider {
  readonly #entries = new Map<string, { score: number; publicKey: Bytes | null }>();

  constructor(entries: Record<string, number | StaticTrustEntry> | Iterable<readonly [string, number | StaticTrustEntry]> = {}) {
    const list = Symbol.iterator in entries ? entries : Object.entries(entries);
    for (const [did, entry] of list as Iterable<readonly [string, number | StaticTrustEntry]>) this.set(did, entry);
  }

  /** Adds or replaces an entry. A key given for a derived DID must be the key the DID names. */
  set(did: string, entry: number | StaticTrustEntry): void {
    try {
      parseDid(did);
    } catch (cause) {
      throw new TrustConfigError(`not a DID: ${JSON.stringify(String(did).slice(0, 80))} (${(cause as Error).message})`);
    }
    const { score, publicKey } = typeof entry === 'number' ? { score: entry, publicKey: undefined } : entry;
    assertTrustScore(score, `the score for ${did}`);
    if (publicKey !== undefined) {
      if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) throw new TrustConfigError(`the key for ${did} must be 32 bytes`);
      const problem = isValidEd25519PublicKey(publicKey) ? null : ed25519PublicKeyProblem(publicKey);
      if (problem) throw new TrustConfigError(`the key for ${did} ${problem}`);
      if (checkDidKey(did, publicKey) === 'mismatch') throw new TrustConfigError(`the key given for ${did} is not the key it names`);
    }
    this.#entries.set(did, { score, publicKey: publicKey ? copyBytes(publicKey) : null });
  }

  delete(did: string): boolean {
    return this.#entries.delete(did);
  }

  async getTrustScore(did: string): Promise<number | null> {
    return this.#entries.get(did)?.score ?? null;
  }

  async getPublicKey(did: string): Promise<Uint8Array | null> {
    const key = this.#entries.get(did)?.publicKey;
    return key ? copyBytes(key) : null;
  }
}

/** How a composite turns several providers' scores into one. */
export type ScoreCombination = 'min' | 'max' | 'mean' | 'first';

/**
 * Several providers as one. Providers that do not know a DID are skipped; the others' scores are
 * combined (by default the lowest, so a peer must satisfy every provider that knows it). Keys: the
 * first known, and providers that disagree about a DID's key are an error, never a choice.
 */
export class CompositeTrustProvider implements TrustProvider {
  readonly #providers: readonly TrustProvider[];
  readonly #combine: ScoreCombination;
  readonly #crypto: CryptoProvider;

  constructor(providers: readonly TrustProvider[], options: { combine?: ScoreCombination; crypto?: CryptoProvider } = {}) {
    if (providers.length === 0) throw new TrustConfigError('a composite trust provider needs at least one provider');
    const combine = options.combine ?? 'min';
    if (!['min', 'max', 'mean', 'first'].includes(combine)) throw new TrustConfigError(`unknown score combination ${String(combine)}`);
    this.#providers = [...providers];
    this.#combine = combine;
    this.#crypto = options.crypto ?? getDefaultCryptoProvider();
  }

  async getTrustScore(did: string): Promise<number | null> {
    const scores: number[] = [];
    for (const provider of this.#providers) {
      const score = await lookUpScore(provider, did);
      if (score === null) continue;
      if (this.#combine === 'first') return score;
      scores.push(score);
    }
    if (scores.length === 0) return null;
    if (this.#combine === 'min') return Math.min(...scores);
    if (this.#combine === 'max') return Math.max(...scores);
    return Math.floor(scores.reduce((a, b) => a + b, 0) / scores.length);
  }

  async getPublicKey(did: string): Promise<Uint8Array | null> {
    let found: Bytes | null = null;
    for (const provider of this.#providers) {
      const key = await lookUpKey(provider, did);
      if (key === null) continue;
      if (found === null) found = key;
      else if (!this.#crypto.constantTimeEqual(found, key)) {
        throw new TrustError('did_key_mismatch', `trust providers disagree about the key of ${did}`, { peerDid: did });
      }
    }
    return found;
  }
}
