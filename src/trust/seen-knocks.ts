import { TrustConfigError, TrustError } from './errors.js';

/** KNOCK ids remembered for strangers, all together (the cache's memory bound). */
export const DEFAULT_MAX_STRANGER_KNOCKS = 10_000;
/**
 * KNOCK ids one peer may have remembered at once (each stays one replay window). An honest peer
 * knocks once per channel it wants; past this, that peer's KNOCKs are refused until its own
 * entries age out, so it cannot spend anyone else's room.
 */
export const DEFAULT_MAX_KNOCKS_PER_PEER = 32;

/**
 * The ids of verified KNOCKs, kept until a copy would be refused as expired anyway. Entries are
 * never evicted early: forgetting one would let its KNOCK be replayed. Room is split instead:
 * each peer has a quota, and strangers (peers that proved no key to us in a handshake) share one
 * pool that established peers never draw on, so filling it refuses only further strangers.
 */
export class SeenKnocks {
  /** peer DID → knock id → when it may be forgotten. */
  readonly #byPeer = new Map<string, Map<string, number>>();
  /** Which peers were counted as strangers when their first live entry was made. */
  readonly #strangers = new Set<string>();
  #strangerEntries = 0;
  readonly #maxPerPeer: number;
  readonly #maxStrangers: number;

  constructor(options: { maxPerPeer?: number; maxStrangers?: number } = {}) {
    this.#maxPerPeer = options.maxPerPeer ?? DEFAULT_MAX_KNOCKS_PER_PEER;
    this.#maxStrangers = options.maxStrangers ?? DEFAULT_MAX_STRANGER_KNOCKS;
    for (const [name, value] of [['maxPerPeer', this.#maxPerPeer], ['maxStrangers', this.#maxStrangers]] as const) {
      if (!Number.isInteger(value) || value < 1) throw new TrustConfigError(`${name} must be a positive integer`);
    }
  }

  get size(): number {
    let n = 0;
    for (const ids of this.#byPeer.values()) n += ids.size;
    return n;
  }

  /**
   * Records knock `id` of `peerDid` (already verified). Throws `TrustError`: `replayed` for an id
   * seen before, `busy` when the peer's quota or, for a stranger, the strangers' pool is full.
   */
  claim(peerDid: string, id: string, nowMs: number, forgetAt: number, established: boolean): void {
    this.#prune(nowMs);
    const ids = this.#byPeer.get(peerDid);
    if (ids?.has(id)) throw new TrustError('replayed', `knock ${id} was received before`, { peerDid });
    if ((ids?.size ?? 0) >= this.#maxPerPeer) {
      throw new TrustError('busy', `${peerDid} has ${this.#maxPerPeer} recent KNOCKs; try again later`, { peerDid });
    }
    const stranger = ids ? this.#strangers.has(peerDid) : !established;
    if (stranger && this.#strangerEntries >= this.#maxStrangers) {
      throw new TrustError('busy', 'too many recent KNOCKs from unknown peers; try again later', { peerDid });
    }
    if (ids) ids.set(id, forgetAt);
    else this.#byPeer.set(peerDid, new Map([[id, forgetAt]]));
    if (stranger) {
      this.#strangers.add(peerDid);
      this.#strangerEntries += 1;
    }
  }

  #prune(nowMs: number): void {
    for (const [peerDid, ids] of this.#byPeer) {
      const stranger = this.#strangers.has(peerDid);
      for (const [id, forgetAt] of ids) {
        if (nowMs <= forgetAt) continue;
        ids.delete(id);
        if (stranger) this.#strangerEntries -= 1;
      }
      if (ids.size === 0) {
        this.#byPeer.delete(peerDid);
        this.#strangers.delete(peerDid);
      }
    }
  }
}
