import type { CryptoProvider } from '../crypto/index.js';
import { newChallenge, type HandshakeChallenge } from './challenge.js';
import { TrustConfigError, TrustError } from './errors.js';

/**
 * Who a challenge was issued for. `own`: this agent's `verifyPeer` (its own initiative). The other
 * two are counter-challenges a peer asked for by challenging us: `established` when the caller
 * knows the peer (a session with it), `stranger` otherwise.
 */
export type ChallengeOrigin = 'own' | 'established' | 'stranger';

export interface IssuedChallenge {
  readonly challenge: HandshakeChallenge;
  /** The DID the challenge was sent to: only that DID may answer it. */
  readonly peerDid: string;
  readonly issuedAt: number;
  readonly expiresAt: number;
  readonly origin: ChallengeOrigin;
}

/** Outstanding challenges of each pool: this agent's own, and those peers asked for. */
export const DEFAULT_MAX_PENDING_CHALLENGES = 1000;
/**
 * Counter-challenges one peer may hold at once. An honest peer needs one per handshake in flight
 * (two in glare); beyond this the peer's own oldest is withdrawn, so a peer that challenges us in
 * a loop spends its own entries and nobody else's.
 */
export const DEFAULT_MAX_PENDING_PER_PEER = 4;

/**
 * The challenges an agent has issued and the ones already answered. A response is accepted only
 * for a challenge found here, unanswered and unexpired, and taking it marks it answered before any
 * verification runs, so a second copy of the same response is refused even if it races the first.
 *
 * Strangers write to this book (every challenge they send makes us issue a counter-challenge), so
 * it is split by owner: this agent's own challenges have their own pool that peers never touch;
 * counter-challenges are capped per peer; and when the shared pool is full, a stranger is refused
 * while an established peer evicts the oldest stranger's entry, never another established peer's.
 */
export class ChallengeBook {
  readonly #pending = new Map<string, IssuedChallenge>();
  /** challenge id → when the record may be forgotten (a later answer is then simply unknown). */
  readonly #answered = new Map<string, number>();
  /** Counter-challenges pending per peer (own challenges are not counted here). */
  readonly #perPeer = new Map<string, number>();
  readonly #count: Record<ChallengeOrigin, number> = { own: 0, established: 0, stranger: 0 };
  readonly #maxPending: number;
  readonly #maxPerPeer: number;

  constructor(options: { maxPending?: number; maxPendingPerPeer?: number } = {}) {
    this.#maxPending = options.maxPending ?? DEFAULT_MAX_PENDING_CHALLENGES;
    this.#maxPerPeer = options.maxPendingPerPeer ?? DEFAULT_MAX_PENDING_PER_PEER;
    for (const [name, value] of [['maxPending', this.#maxPending], ['maxPendingPerPeer', this.#maxPerPeer]] as const) {
      if (!Number.isInteger(value) || value < 1) throw new TrustConfigError(`${name} must be a positive integer`);
    }
  }

  get pendingCount(): number {
    return this.#pending.size;
  }

  /** Counter-challenges `peerDid` holds (challenges it asked for and has not answered yet). */
  pendingFor(peerDid: string): number {
    return this.#perPeer.get(peerDid) ?? 0;
  }

  issue(peerDid: string, crypto: CryptoProvider, nowMs: number, expiresInSeconds: number, origin: ChallengeOrigin = 'own'): HandshakeChallenge {
    this.#prune(nowMs);
    if (origin === 'own') {
      if (this.#count.own >= this.#maxPending) {
        throw new TrustError('busy', `${this.#count.own} challenges are outstanding; try again later`, { peerDid });
      }
    } else {
      // The peer's quota first: at it, the peer's own oldest goes.
      if (this.pendingFor(peerDid) >= this.#maxPerPeer) this.#evict((c) => c.peerDid === peerDid && c.origin !== 'own');
      if (this.#count.established + this.#count.stranger >= this.#maxPending) {
        const evicted = origin === 'established' && this.#evict((c) => c.origin === 'stranger');
        if (!evicted) throw new TrustError('busy', `${this.#maxPending} counter-challenges are outstanding; try again later`, { peerDid });
      }
    }
    const challenge = newChallenge(crypto, nowMs, expiresInSeconds);
    this.#add({ challenge, peerDid, issuedAt: nowMs, expiresAt: nowMs + expiresInSeconds * 1000, origin });
    return challenge;
  }

  /**
   * Claims the challenge a response names. `expectedId`, when given, is the only one this exchange
   * may claim (an initiator waits for the answer to the challenge it just sent).
   */
  take(challengeId: string, nowMs: number, peerDid: string, expectedId?: string): IssuedChallenge {
    if (this.#answered.has(challengeId)) {
      throw new TrustError('replayed', `challenge ${challengeId} was already answered`, { peerDid });
    }
    const issued = this.#pending.get(challengeId);
    if (!issued || (expectedId !== undefined && challengeId !== expectedId)) {
      throw new TrustError('unknown_challenge', `challenge ${challengeId.slice(0, 40)} was not issued by this agent in this exchange`, { peerDid });
    }
    this.#remove(challengeId);
    this.#answered.set(challengeId, this.#forgetAt(issued));
    // Forgetting an answered record early is safe: its challenge is gone, so a replay reads as unknown.
    if (this.#answered.size > this.#maxPending * 4) this.#answered.delete(this.#answered.keys().next().value!);
    if (nowMs > issued.expiresAt) {
      throw new TrustError('expired', `challenge ${challengeId} expired ${Math.ceil((nowMs - issued.expiresAt) / 1000)} s before its answer`, { peerDid });
    }
    return issued;
  }

  /** Drops a challenge whose exchange failed before any answer (for example on a transport error). */
  withdraw(challengeId: string): void {
    this.#remove(challengeId);
  }

  /** Keeps records for a second lifetime past expiry, so a late answer reads as expired or replayed. */
  #forgetAt(issued: IssuedChallenge): number {
    return issued.expiresAt + (issued.expiresAt - issued.issuedAt);
  }

  #add(issued: IssuedChallenge): void {
    this.#pending.set(issued.challenge.challenge_id, issued);
    this.#count[issued.origin] += 1;
    if (issued.origin !== 'own') this.#perPeer.set(issued.peerDid, this.pendingFor(issued.peerDid) + 1);
  }

  #remove(challengeId: string): void {
    const issued = this.#pending.get(challengeId);
    if (!issued) return;
    this.#pending.delete(challengeId);
    this.#count[issued.origin] -= 1;
    if (issued.origin === 'own') return;
    const left = this.pendingFor(issued.peerDid) - 1;
    if (left > 0) this.#perPeer.set(issued.peerDid, left);
    else this.#perPeer.delete(issued.peerDid);
  }

  /** Withdraws the oldest pending challenge that matches; false when none does. */
  #evict(matches: (issued: IssuedChallenge) => boolean): boolean {
    for (const [id, issued] of this.#pending) {
      if (!matches(issued)) continue;
      this.#remove(id);
      return true;
    }
    return false;
  }

  #prune(nowMs: number): void {
    for (const [id, issued] of this.#pending) if (nowMs > this.#forgetAt(issued)) this.#remove(id);
    for (const [id, forgetAt] of this.#answered) if (nowMs > forgetAt) this.#answered.delete(id);
  }
}
