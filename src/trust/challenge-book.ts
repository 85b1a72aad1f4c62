import type { CryptoProvider } from '../crypto/index.js';
import { newChallenge, type HandshakeChallenge } from './challenge.js';
import { TrustError } from './errors.js';

export interface IssuedChallenge {
  readonly challenge: HandshakeChallenge;
  /** The DID the challenge was sent to: only that DID may answer it. */
  readonly peerDid: string;
  readonly issuedAt: number;
  readonly expiresAt: number;
}

export const DEFAULT_MAX_PENDING_CHALLENGES = 1000;

/**
 * The challenges an agent has issued and the ones already answered. A response is accepted only
 * for a challenge found here, unanswered and unexpired, and taking it marks it answered before any
 * verification runs, so a second copy of the same response is refused even if it races the first.
 */
export class ChallengeBook {
  readonly #pending = new Map<string, IssuedChallenge>();
  /** challenge id → when the record may be forgotten (a later answer is then simply unknown). */
  readonly #answered = new Map<string, number>();
  readonly #maxPending: number;

  constructor(options: { maxPending?: number } = {}) {
    this.#maxPending = options.maxPending ?? DEFAULT_MAX_PENDING_CHALLENGES;
  }

  get pendingCount(): number {
    return this.#pending.size;
  }

  issue(peerDid: string, crypto: CryptoProvider, nowMs: number, expiresInSeconds: number): HandshakeChallenge {
    this.#prune(nowMs);
    if (this.#pending.size >= this.#maxPending) {
      throw new TrustError('busy', `${this.#pending.size} challenges are outstanding; try again later`, { peerDid });
    }
    const challenge = newChallenge(crypto, nowMs, expiresInSeconds);
    this.#pending.set(challenge.challenge_id, { challenge, peerDid, issuedAt: nowMs, expiresAt: nowMs + expiresInSeconds * 1000 });
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
    this.#pending.delete(challengeId);
    this.#answered.set(challengeId, this.#forgetAt(issued));
    if (this.#answered.size > this.#maxPending * 4) this.#answered.delete(this.#answered.keys().next().value!);
    if (nowMs > issued.expiresAt) {
      throw new TrustError('expired', `challenge ${challengeId} expired ${Math.ceil((nowMs - issued.expiresAt) / 1000)} s before its answer`, { peerDid });
    }
    return issued;
  }

  /** Drops a challenge whose exchange failed before any answer (for example on a transport error). */
  withdraw(challengeId: string): void {
    this.#pending.delete(challengeId);
  }

  /** Keeps records for a second lifetime past expiry, so a late answer reads as expired or replayed. */
  #forgetAt(issued: IssuedChallenge): number {
    return issued.expiresAt + (issued.expiresAt - issued.issuedAt);
  }

  #prune(nowMs: number): void {
    for (const [id, issued] of this.#pending) if (nowMs > this.#forgetAt(issued)) this.#pending.delete(id);
    for (const [id, forgetAt] of this.#answered) if (nowMs > forgetAt) this.#answered.delete(id);
  }
}
