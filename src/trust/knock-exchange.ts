import { getDefaultCryptoProvider, type CryptoProvider } from '../crypto/index.js';
import type { Bytes } from '../encoding.js';
import { malformed, readAnswer } from './answer.js';
import { checkConditions, type ChannelConditions } from './channel-conditions.js';
import { systemClock, type Clock } from './clock.js';
import { TrustError } from './errors.js';
import { envelope, errorFrame, parseFrame, senderOf, type AgentMeshFrame, type ParsedFrame } from './frame.js';
import type { SigningIdentity } from './handshake.js';
import { assertKeyBelongsToDid } from './key-binding.js';
import {
  ACTION_ENVELOPE_FIELD,
  checkIntent,
  isValidReason,
  KNOCK_FRAMES,
  knockAcceptFrame,
  knockFrame,
  knockRejectFrame,
  parseKnock,
  parseKnockAnswer,
  type KnockIntent,
  type ParsedKnock,
} from './knock-frames.js';
import { ACTION_ENVELOPE_REQUIRED, DEFAULT_KNOCK_MAX_MESSAGES, DEFAULT_KNOCK_TTL_SECONDS, type KnockDecision, type KnockPolicy } from './knock-policy.js';
import { lookUpKey, lookUpScore, type TrustProvider } from './provider.js';
import { SeenKnocks } from './seen-knocks.js';
import { frameSignatureValid, signFrame } from './signed-frame.js';
import { ACTION_ENVELOPE_VERSION } from '../wire/action-envelope.js';

/** A KNOCK that was accepted: the conditions any channel with that peer now runs under. */
export interface KnockGrant {
  readonly peerDid: string;
  readonly knockId: string;
  readonly conditions: ChannelConditions;
  /** When this side saw the acceptance; the TTL counts from here. */
  readonly grantedAt: number;
  /**
   * Both sides agreed on the action envelope (`wire/action-envelope.ts`): every message of the
   * channel carries its action inside the ciphertext, and each side checks it on receive. False
   * with a peer that speaks plain AgentMesh v1; its messages then stay v1's bytes.
   */
  readonly actionEnvelope: boolean;
}

export type KnockOutcome =
  | ({ readonly accepted: true } & KnockGrant)
  | { readonly accepted: false; readonly peerDid: string; readonly knockId: string; readonly reason: string };

export const DEFAULT_KNOCK_FRESHNESS_MS = 5 * 60 * 1000;

export interface KnockExchangeOptions {
  agentDid: string;
  identity: SigningIdentity;
  trustProvider: TrustProvider;
  /** Decides incoming KNOCKs. */
  policy: KnockPolicy;
  crypto?: CryptoProvider;
  now?: Clock;
  /** How far a KNOCK's `ts` may be from now, either way (default 5 min). */
  freshnessMs?: number;
  /** Keys peers proved in a handshake; used for KNOCKs that carry no key of their own. */
  provenKey?: (did: string) => Bytes | null;
}

/** Signs, verifies and answers KNOCK intents. Delivery is the caller's (the bridge's transport). */
export class KnockExchange {
  readonly agentDid: string;
  readonly #identity: SigningIdentity;
  readonly #provider: TrustProvider;
  readonly #policy: KnockPolicy;
  readonly #crypto: CryptoProvider;
  readonly #now: Clock;
  readonly #freshnessMs: number;
  readonly #provenKey: (did: string) => Bytes | null;
  /** Verified knock ids, per peer, until a copy would be refused as expired anyway (`seen-knocks.ts`). */
  readonly #seen = new SeenKnocks();

  constructor(options: KnockExchangeOptions) {
    this.agentDid = options.agentDid;
    this.#identity = options.identity;
    this.#provider = options.trustProvider;
    this.#policy = options.policy;
    this.#crypto = options.crypto ?? getDefaultCryptoProvider();
    this.#now = options.now ?? systemClock;
    this.#freshnessMs = options.freshnessMs ?? DEFAULT_KNOCK_FRESHNESS_MS;
    this.#provenKey = options.provenKey ?? (() => null);
  }

  /** A signed `knock` frame for `peerDid`. Throws `InvalidTrustFrameError` for an intent that breaks the limits. */
  async createKnock(peerDid: string, intent: KnockIntent): Promise<AgentMeshFrame> {
    const checked = checkIntent(intent);
    const env = envelope(KNOCK_FRAMES.knock, this.agentDid, peerDid, this.#crypto, this.#now);
    return signFrame(knockFrame(env, checked, this.#identity.publicKey), this.#identity);
  }

  /**
   * Verifies an incoming KNOCK and answers it with the policy's signed decision. A KNOCK that cannot
   * be verified gets an `error` frame naming the reason, and no grant.
   */
  async answerKnock(input: unknown): Promise<{ answer: AgentMeshFrame; grant: KnockGrant | null }> {
    let knock: ParsedKnock;
    try {
      const frame = parseFrame(input);
      if (frame.to !== this.agentDid) return this.#refuse(input, 'wrong_peer', `this agent is ${this.agentDid}, not ${frame.to}`);
      knock = parseKnock(frame);
    } catch (error) {
      return this.#refuse(input, 'malformed', (error as Error).message);
    }
    let trustScore: number | null;
    try {
      await this.#verifyKnock(knock);
      trustScore = await lookUpScore(this.#provider, knock.frame.from);
    } catch (error) {
      if (error instanceof TrustError) return this.#refuse(input, error.reason, error.message);
      throw error;
    }
    const { frame, intent } = knock;
    let decision: KnockDecision;
    let conditions: ChannelConditions | null = null;
    try {
      decision = await this.#policy({ knockId: frame.id, peerDid: frame.from, intent, trustScore, actionEnvelope: knock.actionEnvelope });
      if (decision.accept) {
        conditions = checkConditions({
          maxMessages: DEFAULT_KNOCK_MAX_MESSAGES,
          ttlSeconds: DEFAULT_KNOCK_TTL_SECONDS,
          allowedActions: [intent.action],
          ...decision.conditions,
        });
      }
    } catch {
      // A policy that fails (or grants nonsense) refuses: never an accidental grant.
      decision = { accept: false, reason: 'policy_error' };
    }
    if (conditions && conditions.allowedActions.length > 0 && !knock.actionEnvelope) {
      // Without the envelope the peer's messages do not say what they are for, so this side could
      // not hold it to the allowed actions: refuse rather than grant what it cannot enforce. A policy
      // that accepts such a peer anyway grants `allowedActions: []` (any action) knowingly.
      conditions = null;
      decision = { accept: false, reason: ACTION_ENVELOPE_REQUIRED };
    }
    const env = this.#envelope(decision.accept ? KNOCK_FRAMES.accept : KNOCK_FRAMES.reject, frame.from);
    if (conditions) {
      const { actionEnvelope } = knock;
      const answer = await signFrame(knockAcceptFrame(env, frame.id, conditions, this.#identity.publicKey, actionEnvelope), this.#identity);
      return { answer, grant: { peerDid: frame.from, knockId: frame.id, conditions, grantedAt: this.#now(), actionEnvelope } };
    }
    const reason = !decision.accept && isValidReason(decision.reason) ? decision.reason : 'rejected';
    return { answer: await signFrame(knockRejectFrame(env, frame.id, reason, this.#identity.publicKey), this.#identity), grant: null };
  }

  /**
   * Reads the answer to `knock` (sent to `peerDid`), checking it under the key the peer proved.
   * Throws `TrustError`; a signed rejection is an outcome, not an error.
   */
  async readAnswer(input: unknown, knock: AgentMeshFrame, peerKey: Uint8Array): Promise<KnockOutcome> {
    const peerDid = knock.to;
    const frame: ParsedFrame = readAnswer(input, peerDid, this.agentDid, [KNOCK_FRAMES.accept, KNOCK_FRAMES.reject]);
    let answer;
    try {
      answer = parseKnockAnswer(frame);
    } catch (cause) {
      throw malformed(peerDid, cause);
    }
    if (answer.knockId !== knock.id) {
      throw new TrustError('unknown_challenge', `${peerDid} answered knock ${answer.knockId}, not ${knock.id}`, { peerDid });
    }
    this.#assertFresh(frame, peerDid);
    if (!(await this.#signatureValid(frame, answer.signature, peerKey))) {
      throw new TrustError('bad_signature', `the KNOCK answer of ${peerDid} is not signed by its key`, { peerDid });
    }
    if (!answer.accepted) return { accepted: false, peerDid, knockId: knock.id, reason: answer.reason };
    if (answer.actionEnvelope && !offersEnvelope(knock)) {
      throw new TrustError('malformed', `${peerDid} selected an action envelope the knock did not offer`, { peerDid });
    }
    return { accepted: true, peerDid, knockId: knock.id, conditions: answer.conditions, grantedAt: this.#now(), actionEnvelope: answer.actionEnvelope };
  }

  async #verifyKnock(knock: ParsedKnock): Promise<void> {
    const { frame } = knock;
    this.#assertFresh(frame, frame.from);
    let key = knock.publicKey;
    if (key) await assertKeyBelongsToDid(frame.from, key, this.#provider, this.#crypto);
    else key = this.#provenKey(frame.from) ?? (await lookUpKey(this.#provider, frame.from));
    if (!key) throw new TrustError('unknown_key', `no key is known for ${frame.from}`, { peerDid: frame.from });
    if (!(await this.#signatureValid(frame, knock.signature, key))) {
      throw new TrustError('bad_signature', `the KNOCK of ${frame.from} is not signed by its key`, { peerDid: frame.from });
    }
    // Checked and recorded only once verified (with no await in between), so a forged copy cannot
    // burn a genuine id and two copies racing each other cannot both pass. A peer that proved its
    // key in a handshake is established: strangers filling their pool never refuse it.
    const now = this.#now();
    this.#seen.claim(frame.from, frame.id, now, now + 2 * this.#freshnessMs, this.#provenKey(frame.from) !== null);
  }

  async #signatureValid(frame: ParsedFrame, signature: Uint8Array, key: Uint8Array): Promise<boolean> {
    try {
      return await frameSignatureValid(frame.fields, signature, key, this.#crypto);
    } catch (cause) {
      throw malformed(frame.from, cause);
    }
  }

  #assertFresh(frame: ParsedFrame, peerDid: string): void {
    if (Math.abs(this.#now() - frame.tsMs) > this.#freshnessMs) {
      throw new TrustError('expired', `frame ${frame.id} is dated ${frame.ts}, outside the ${this.#freshnessMs / 1000} s window`, { peerDid });
    }
  }

  #refuse(input: unknown, code: string, message: string): { answer: AgentMeshFrame; grant: null } {
    return { answer: errorFrame(this.agentDid, senderOf(input, this.agentDid), code, message, this.#crypto, this.#now), grant: null };
  }

  #envelope(type: string, to: string) {
    return envelope(type, this.agentDid, to, this.#crypto, this.#now);
  }
}

function offersEnvelope(knock: AgentMeshFrame): boolean {
  const offer = knock[ACTION_ENVELOPE_FIELD];
  return Array.isArray(offer) && offer.includes(ACTION_ENVELOPE_VERSION);
}
