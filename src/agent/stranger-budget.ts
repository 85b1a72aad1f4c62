import { TrustConfigError } from '../trust/errors.js';

/**
 * What other agents may make this agent send on their behalf: the answers to their handshake
 * requests, and the handshakes their establishment frames start. MeshAgent decides who is a
 * stranger (no session, not being opened by us) and what each piece of work costs in frames; this
 * file owns the allowances.
 *
 * Every such frame also counts against this agent's own frame limit at the relay (per DID per
 * minute, `RATE_LIMIT_PER_MINUTE`, 600 by default). Registration is free, so an attacker has any
 * number of DIDs, and an allowance per DID alone protects nothing: all strangers together share
 * one allowance, a fixed part of the relay's limit, and the rest stays for the agent's own
 * traffic to its established peers whatever strangers do.
 */
export interface StrangerBudgetOptions {
  /** Frames per minute all strangers together may cost (default 60: a tenth of the relay's default 600). */
  framesPerMinute?: number;
  /** Of those, how many may go at once after a quiet spell (default 20). */
  burstFrames?: number;
  /**
   * Frames per minute one peer may cost, stranger or not (default 6: three handshakes). An honest
   * peer needs one handshake per session; more is a peer probing us.
   */
  perPeerFramesPerMinute?: number;
  /** Handshakes run at once for strangers' establishment frames (default 8), each waiting up to the handshake timeout. */
  handshakesInFlight?: number;
}

export const DEFAULT_STRANGER_BUDGET: Required<StrangerBudgetOptions> = {
  framesPerMinute: 60,
  burstFrames: 20,
  perPeerFramesPerMinute: 6,
  handshakesInFlight: 8,
};

/** Why a piece of work was refused: which allowance was spent. */
export type SpentAllowance = 'peer' | 'strangers' | 'handshakes';

const MINUTE_MS = 60_000;
/** A prepaid answer not collected within this is forgotten (a handshake's challenge lives 30 s, and is kept for twice that). */
const PREPAID_TTL_MS = 2 * MINUTE_MS;

/** A token bucket: `capacity` tokens, refilled at `perMinute` a minute; plus answers paid ahead. */
class Bucket {
  tokens: number;
  at: number;
  prepaid = 0;
  prepaidAt = 0;
  constructor(capacity: number, now: number) {
    this.tokens = capacity;
    this.at = now;
  }
  refill(capacity: number, perMinute: number, now: number): void {
    this.tokens = Math.min(capacity, this.tokens + ((now - this.at) * perMinute) / MINUTE_MS);
    this.at = now;
  }
}

export class StrangerBudget {
  readonly #o: Required<StrangerBudgetOptions>;
  readonly #now: () => number;
  readonly #strangers: Bucket;
  /**
   * Peers that spent part of their allowance; a peer missing here has a full one. An entry for a
   * stranger is made only when the strangers' allowance pays, so at most burst + a minute's rate
   * of them are not yet full again; full ones are dropped.
   */
  readonly #peers = new Map<string, Bucket>();
  #handshakes = 0;

  constructor(options: StrangerBudgetOptions = {}, now: () => number = Date.now) {
    this.#o = { ...DEFAULT_STRANGER_BUDGET, ...options };
    for (const [name, value] of Object.entries(this.#o)) {
      if (!Number.isInteger(value) || value < 1) throw new TrustConfigError(`strangerBudget.${name} must be a positive integer`);
    }
    this.#now = now;
    this.#strangers = new Bucket(this.#o.burstFrames, now());
  }

  get options(): Readonly<Required<StrangerBudgetOptions>> {
    return this.#o;
  }

  /** Whether `peerDid`'s own allowance could pay `frames` now (a cheap look before finding out who it is). */
  peerCanPay(peerDid: string, frames: number): boolean {
    return this.#peer(peerDid, this.#now()).tokens >= frames;
  }

  /**
   * Charges `frames` to `peerDid`'s allowance and, for a stranger, to the strangers' one. Charges
   * nothing and names the spent allowance when either cannot pay.
   */
  charge(peerDid: string, frames: number, stranger: boolean): SpentAllowance | null {
    const now = this.#now();
    const peer = this.#peer(peerDid, now);
    if (peer.tokens < frames) return 'peer';
    if (stranger) {
      this.#strangers.refill(this.#o.burstFrames, this.#o.framesPerMinute, now);
      if (this.#strangers.tokens < frames) return 'strangers';
      this.#strangers.tokens -= frames;
    }
    peer.tokens -= frames;
    this.#peers.set(peerDid, peer);
    this.#prune(now);
    return null;
  }

  /** Records that `peerDid` paid ahead for one answer (the result of the proof its challenge leads to). */
  prepay(peerDid: string): void {
    const now = this.#now();
    const peer = this.#peer(peerDid, now);
    peer.prepaid = Math.min(peer.prepaid + 1, this.#o.perPeerFramesPerMinute);
    peer.prepaidAt = now;
    this.#peers.set(peerDid, peer);
  }

  /** Spends one answer `peerDid` paid ahead for; false when it has none. */
  collectPrepaid(peerDid: string): boolean {
    const peer = this.#peers.get(peerDid);
    if (!peer || peer.prepaid === 0 || this.#now() - peer.prepaidAt > PREPAID_TTL_MS) return false;
    peer.prepaid -= 1;
    return true;
  }

  /** A slot for one handshake run for a stranger, or null when all are taken. Call the returned function once it ends. */
  enterHandshake(): (() => void) | null {
    if (this.#handshakes >= this.#o.handshakesInFlight) return null;
    this.#handshakes += 1;
    let left = false;
    return () => {
      if (left) return;
      left = true;
      this.#handshakes -= 1;
    };
  }

  #peer(peerDid: string, now: number): Bucket {
    const bucket = this.#peers.get(peerDid) ?? new Bucket(this.#o.perPeerFramesPerMinute, now);
    bucket.refill(this.#o.perPeerFramesPerMinute, this.#o.perPeerFramesPerMinute, now);
    return bucket;
  }

  #prune(now: number): void {
    if (this.#peers.size <= 2 * (this.#o.burstFrames + this.#o.framesPerMinute)) return;
    for (const [did, bucket] of this.#peers) {
      bucket.refill(this.#o.perPeerFramesPerMinute, this.#o.perPeerFramesPerMinute, now);
      const owed = bucket.prepaid > 0 && now - bucket.prepaidAt <= PREPAID_TTL_MS;
      if (bucket.tokens >= this.#o.perPeerFramesPerMinute && !owed) this.#peers.delete(did);
    }
  }
}
