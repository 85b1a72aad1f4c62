import { getDefaultCryptoProvider, type CryptoProvider } from '../crypto/index.js';
import { checkDidKey, parseDid } from '../identity/did.js';
import {
  answerChallenge,
  DEFAULT_CHALLENGE_SECONDS,
  parseChallenge,
  parseResponse,
  responsePayload,
  type HandshakeChallenge,
  type ParsedHandshakeResponse,
} from './challenge.js';
import { ChallengeBook, DEFAULT_MAX_PENDING_CHALLENGES, type ChallengeOrigin } from './challenge-book.js';
import { systemClock, type Clock } from './clock.js';
import { malformed, readAnswer } from './answer.js';
import { TrustConfigError, TrustError } from './errors.js';
import { envelope, errorFrame, parseFrame, readBoolean, readOptionalString, senderOf, type AgentMeshFrame, type ParsedFrame } from './frame.js';
import { assertKeyBelongsToDid } from './key-binding.js';
import { TRUST_LIMITS } from './limits.js';
import { requestAnswer } from './request.js';
import { assertTrustScore, lookUpScore, type TrustProvider } from './provider.js';
import type { TrustTransport } from './transport.js';
import { VerificationCache, type PeerVerification } from './verification-cache.js';

/** Frame types of the handshake (ours: AgentMesh v1 names no handshake frames). */
export const HANDSHAKE_FRAMES = {
  challenge: 'trust_challenge',
  response: 'trust_response',
  proof: 'trust_proof',
  result: 'trust_result',
  error: 'error',
} as const;

/** What the handshake needs of an identity: the public key and a way to sign with it. */
export interface SigningIdentity {
  readonly publicKey: Uint8Array;
  sign(message: Uint8Array): Promise<Uint8Array>;
}

export const DEFAULT_MIN_TRUST_SCORE = 700;
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

export interface TrustHandshakeOptions {
  /** This agent's Ed25519 identity (an `AgentIdentity`). */
  identity: SigningIdentity;
  /** This agent's DID; by default the one derived from the identity key. */
  agentDid: string;
  trustProvider: TrustProvider;
  transport: TrustTransport;
  /** Score a peer needs: the default for `verifyPeer`, and what peers that challenge us must reach. */
  minTrustScore?: number;
  crypto?: CryptoProvider;
  now?: Clock;
  /** Lifetime of the challenges this agent issues (default 30 s, as the reference). */
  challengeSeconds?: number;
  /** How long to wait for each answer (default 10 s). */
  timeoutMs?: number;
  /** Verifications reused within this time, for thresholds at or below the one passed (default 15 min). */
  cacheTtlMs?: number;
  /** Outstanding challenges of this agent's own, and (separately) counter-challenges peers asked for (default 1000 each). */
  maxPendingChallenges?: number;
  /** Counter-challenges one peer may hold (default 4); beyond it, the peer's own oldest is withdrawn. */
  maxPendingChallengesPerPeer?: number;
}

export interface HandleFrameOptions {
  /**
   * The sender is a peer the caller knows (it has a session with it). Its counter-challenges may
   * then evict a stranger's when the book is full; a stranger's never evict anyone's.
   */
  established?: boolean;
}

/**
 * The mutual challenge–response trust handshake. The initiator challenges the peer; the peer's answer
 * carries its signed response and a counter-challenge; the initiator's proof answers that. Each side
 * checks the other's signature, DID↔key binding, freshness, that the challenge is its own and
 * unanswered, and the other's score against its own threshold.
 *
 *   A → B  trust_challenge { challenge }
 *   B → A  trust_response  { response, challenge }   (A verifies B)
 *   A → B  trust_proof     { response }              (B verifies A)
 *   B → A  trust_result    { verified, reason? }
 */
export class TrustHandshake {
  readonly agentDid: string;
  readonly cache: VerificationCache;
  readonly minTrustScore: number;
  readonly #identity: SigningIdentity;
  readonly #provider: TrustProvider;
  readonly #transport: TrustTransport;
  readonly #crypto: CryptoProvider;
  readonly #now: Clock;
  readonly #book: ChallengeBook;
  readonly #challengeSeconds: number;
  readonly #timeoutMs: number;

  constructor(options: TrustHandshakeOptions) {
    this.#crypto = options.crypto ?? getDefaultCryptoProvider();
    this.#now = options.now ?? systemClock;
    this.minTrustScore = options.minTrustScore ?? DEFAULT_MIN_TRUST_SCORE;
    assertTrustScore(this.minTrustScore, 'minTrustScore');
    const { identity, agentDid } = options;
    if (!identity || !(identity.publicKey instanceof Uint8Array) || typeof identity.sign !== 'function') {
      throw new TrustConfigError('the handshake needs the agent identity (its Ed25519 key) to prove itself');
    }
    let binding: ReturnType<typeof checkDidKey>;
    try {
      binding = checkDidKey(agentDid, identity.publicKey);
    } catch (cause) {
      throw new TrustConfigError(`agentDid is not a DID we accept: ${(cause as Error).message}`);
    }
    if (binding === 'mismatch') throw new TrustConfigError(`agentDid ${agentDid} is not the DID of the identity key`);
    this.agentDid = agentDid;
    this.#identity = identity;
    this.#provider = options.trustProvider;
    this.#transport = options.transport;
    this.#challengeSeconds = options.challengeSeconds ?? DEFAULT_CHALLENGE_SECONDS;
    if (!Number.isInteger(this.#challengeSeconds) || this.#challengeSeconds < 1 || this.#challengeSeconds > TRUST_LIMITS.maxChallengeSeconds) {
      throw new TrustConfigError(`challengeSeconds must be an integer from 1 to ${TRUST_LIMITS.maxChallengeSeconds}`);
    }
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
    if (!(this.#timeoutMs > 0)) throw new TrustConfigError('timeoutMs must be positive');
    this.cache = new VerificationCache({ ttlMs: options.cacheTtlMs, now: this.#now });
    this.#book = new ChallengeBook({
      maxPending: options.maxPendingChallenges ?? DEFAULT_MAX_PENDING_CHALLENGES,
      maxPendingPerPeer: options.maxPendingChallengesPerPeer,
    });
  }

  /**
   * Proves `peerDid` holds its key and scores at least `minTrustScore` (default: this agent's),
   * proving this agent to the peer in the same exchange. Reuses a cached verification only if it
   * passed at least this threshold and is within its TTL. Throws `TrustError`.
   */
  async verifyPeer(peerDid: string, options: { minTrustScore?: number; useCache?: boolean } = {}): Promise<PeerVerification> {
    const threshold = options.minTrustScore ?? this.minTrustScore;
    assertTrustScore(threshold, 'minTrustScore');
    assertPeerDid(peerDid, this.agentDid);
    if (options.useCache !== false) {
      const cached = this.cache.get(peerDid, threshold);
      if (cached) return cached;
    }
    const ours = this.#book.issue(peerDid, this.#crypto, this.#now(), this.#challengeSeconds);
    let verification: PeerVerification;
    let counter: HandshakeChallenge;
    try {
      const answer = await this.#request({ ...this.#envelope(HANDSHAKE_FRAMES.challenge, peerDid), challenge: ours });
      const frame = readAnswer(answer, peerDid, this.agentDid, [HANDSHAKE_FRAMES.response]);
      let response: ParsedHandshakeResponse;
      try {
        response = parseResponse(frame.fields.response);
        counter = parseChallenge(frame.fields.challenge);
      } catch (cause) {
        throw malformed(peerDid, cause);
      }
      verification = await this.#verifyResponse(response, peerDid, threshold, ours.challenge_id);
    } finally {
      this.#book.withdraw(ours.challenge_id);
    }
    const proof = await answerChallenge(counter, this.agentDid, this.#identity, this.#crypto, this.#now());
    const answer = await this.#request({ ...this.#envelope(HANDSHAKE_FRAMES.proof, peerDid), response: proof });
    const result = readAnswer(answer, peerDid, this.agentDid, [HANDSHAKE_FRAMES.result]);
    let verified: boolean;
    let reason: string | undefined;
    try {
      verified = readBoolean(result.fields, 'verified');
      reason = readOptionalString(result.fields, 'reason', TRUST_LIMITS.maxReasonLength);
    } catch (cause) {
      throw malformed(peerDid, cause);
    }
    if (!verified) {
      throw new TrustError('peer_refused', `${peerDid} refused this agent: ${reason ?? 'no reason given'}`, { peerDid, peerReason: reason });
    }
    this.cache.set(verification);
    return verification;
  }

  /**
   * Answers a handshake frame addressed to this agent; null for frames of other types. Never
   * throws for bad input: refusals travel back as `error` or `trust_result` frames.
   */
  async handleFrame(input: unknown, options: HandleFrameOptions = {}): Promise<AgentMeshFrame | null> {
    let frame: ParsedFrame;
    try {
      frame = parseFrame(input);
    } catch (error) {
      return this.errorFrame(input, 'malformed', (error as Error).message);
    }
    if (frame.type !== HANDSHAKE_FRAMES.challenge && frame.type !== HANDSHAKE_FRAMES.proof) return null;
    if (frame.to !== this.agentDid) return this.errorFrame(input, 'wrong_peer', `this agent is ${this.agentDid}, not ${frame.to}`);
    if (frame.type === HANDSHAKE_FRAMES.challenge) return this.#answerChallenge(frame, options.established === true ? 'established' : 'stranger');
    return this.#checkProof(frame);
  }

  /** An `error` frame back to whoever sent `input` (to ourselves when its sender is unreadable). */
  errorFrame(input: unknown, code: string, message: string): AgentMeshFrame {
    return errorFrame(this.agentDid, senderOf(input, this.agentDid), code, message, this.#crypto, this.#now);
  }

  /** Whether `peerDid` holds a counter-challenge of ours, so that a proof from it can be expected. */
  awaitsProofFrom(peerDid: string): boolean {
    return this.#book.pendingFor(peerDid) > 0;
  }

  async #answerChallenge(frame: ParsedFrame, origin: ChallengeOrigin): Promise<AgentMeshFrame> {
    let challenge: HandshakeChallenge;
    try {
      challenge = parseChallenge(frame.fields.challenge);
    } catch (error) {
      return this.errorFrame(frame, 'malformed', (error as Error).message);
    }
    let counter: HandshakeChallenge;
    try {
      // The score first: a challenger our threshold refuses would fail at its proof anyway, so it
      // gets a short refusal, and neither our signature nor an entry in the challenge book.
      const score = await lookUpScore(this.#provider, frame.from);
      if (score === null || score < this.minTrustScore) {
        return this.errorFrame(frame, 'insufficient_trust', score === null ? 'unknown to this agent' : `below the ${this.minTrustScore} required`);
      }
      counter = this.#book.issue(frame.from, this.#crypto, this.#now(), this.#challengeSeconds, origin);
    } catch (error) {
      if (error instanceof TrustError) return this.errorFrame(frame, error.reason, error.message);
      throw error;
    }
    const response = await answerChallenge(challenge, this.agentDid, this.#identity, this.#crypto, this.#now());
    return { ...this.#envelope(HANDSHAKE_FRAMES.response, frame.from), response, challenge: counter };
  }

  async #checkProof(frame: ParsedFrame): Promise<AgentMeshFrame> {
    const result = (verified: boolean, reason?: string): AgentMeshFrame => ({
      ...this.#envelope(HANDSHAKE_FRAMES.result, frame.from),
      verified,
      ...(reason === undefined ? {} : { reason }),
    });
    try {
      let response: ParsedHandshakeResponse;
      try {
        response = parseResponse(frame.fields.response);
      } catch (cause) {
        throw malformed(frame.from, cause);
      }
      this.cache.set(await this.#verifyResponse(response, frame.from, this.minTrustScore));
      return result(true);
    } catch (error) {
      if (error instanceof TrustError) return result(false, error.reason);
      throw error;
    }
  }

  async #verifyResponse(
    response: ParsedHandshakeResponse,
    peerDid: string,
    threshold: number,
    expectedChallengeId?: string,
  ): Promise<PeerVerification> {
    const issued = this.#book.take(response.challengeId, this.#now(), peerDid, expectedChallengeId);
    if (issued.peerDid !== peerDid || response.agentDid !== peerDid) {
      throw new TrustError('wrong_peer', `challenge ${response.challengeId} was issued to ${issued.peerDid}, answered as ${response.agentDid}`, { peerDid });
    }
    await assertKeyBelongsToDid(peerDid, response.publicKey, this.#provider, this.#crypto);
    const payload = responsePayload(response.challengeId, issued.challenge.nonce, response.responseNonce, response.agentDid);
    let valid = false;
    try {
      valid = await this.#crypto.ed25519Verify(response.publicKey, payload, response.signature);
    } catch {
      valid = false;
    }
    if (!valid) throw new TrustError('bad_signature', `the handshake signature of ${peerDid} does not verify`, { peerDid });
    const score = await lookUpScore(this.#provider, peerDid);
    if (score === null || score < threshold) {
      throw new TrustError(
        'insufficient_trust',
        score === null ? `the trust provider does not know ${peerDid}` : `${peerDid} scores ${score}, below the ${threshold} required`,
        { peerDid },
      );
    }
    return { peerDid, publicKey: response.publicKey, trustScore: score, threshold, verifiedAt: this.#now() };
  }

  /** How long each answer is awaited. */
  get timeoutMs(): number {
    return this.#timeoutMs;
  }

  #request(frame: AgentMeshFrame): Promise<unknown> {
    return requestAnswer(this.#transport, frame, this.#timeoutMs);
  }

  #envelope(type: string, to: string) {
    return envelope(type, this.agentDid, to, this.#crypto, this.#now);
  }
}

export function assertPeerDid(peerDid: string, selfDid: string): void {
  try {
    parseDid(peerDid);
  } catch (cause) {
    throw new TrustError('invalid_did', `not a DID we accept: ${JSON.stringify(String(peerDid).slice(0, 80))}`, { cause });
  }
  if (peerDid === selfDid) throw new TrustError('invalid_did', 'an agent does not verify itself', { peerDid });
}
