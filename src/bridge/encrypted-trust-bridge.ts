import { decodeEstablishment, type ChannelEstablishment, type EstablishmentJson } from '../channel/establishment.js';
import { SecureChannel, type ChannelOptions } from '../channel/secure-channel.js';
import { sha256, type CryptoProvider } from '../crypto/index.js';
import { concatBytes, toHex, utf8 } from '../encoding.js';
import { InvalidEstablishmentError } from '../errors.js';
import { ConditionGuard } from '../trust/channel-conditions.js';
import { systemClock, type Clock } from '../trust/clock.js';
import { TrustConfigError, TrustError } from '../trust/errors.js';
import type { AgentMeshFrame } from '../trust/frame.js';
import { assertPeerDid, TrustHandshake, type SigningIdentity } from '../trust/handshake.js';
import { KnockExchange, type KnockGrant, type KnockOutcome } from '../trust/knock-exchange.js';
import type { KnockIntent } from '../trust/knock-frames.js';
import { KNOCK_FRAMES } from '../trust/knock-frames.js';
import { defaultKnockPolicy, type KnockPolicy } from '../trust/knock-policy.js';
import type { TrustProvider } from '../trust/provider.js';
import { requestAnswer } from '../trust/request.js';
import type { TrustTransport } from '../trust/transport.js';
import type { PeerVerification } from '../trust/verification-cache.js';
import { checkBundleShape, type PreKeyBundle } from '../x3dh/bundle.js';
import type { X3DHKeyManager } from '../x3dh/key-manager.js';
import type { PreKeyStore } from '../x3dh/prekey-store.js';
import type { GovernanceHooks } from './governance.js';
import { TrustedChannel } from './trusted-channel.js';

export interface EncryptedTrustBridgeOptions extends GovernanceHooks {
  /** This agent's DID; by default the one derived from `identity`. */
  agentDid?: string;
  keyManager: X3DHKeyManager;
  /**
   * This agent's Ed25519 identity (an `AgentIdentity`): the handshake signs with it, and the key
   * manager cannot (it does not expose its seed). Its key must be the key manager's `identityKeyEd`.
   */
  identity: SigningIdentity & { readonly did?: string };
  /** Score a peer needs on either side of a channel (default 700, as the reference). */
  minTrustScore?: number;
  trustProvider: TrustProvider;
  transport: TrustTransport;
  /** Where `publishPrekeyBundle` also stores the bundle, under `agentDid`. */
  prekeyStore?: PreKeyStore;
  /** Decides incoming KNOCKs (default: `defaultKnockPolicy` with `minTrustScore` and `capabilities`). */
  knockPolicy?: KnockPolicy;
  /** What this agent offers, for the default KNOCK policy. */
  capabilities?: readonly string[];
  /** Accept channels only from peers whose KNOCK this agent accepted. */
  requireKnock?: boolean;
  /** Ratchet options for every channel (skip limits and the like). */
  channelOptions?: Omit<ChannelOptions, 'crypto'>;
  crypto?: CryptoProvider;
  now?: Clock;
  cacheTtlMs?: number;
  handshakeTimeoutMs?: number;
  challengeSeconds?: number;
}

export interface EncryptedPeerSession {
  readonly peerDid: string;
  readonly role: 'initiator' | 'responder';
  readonly channel: TrustedChannel;
  /** What the trust check established: the peer's proven key, its score, the threshold passed. */
  readonly verification: PeerVerification;
  /** On the initiator: what the responder needs to accept (send it with the first message). */
  readonly establishment: ChannelEstablishment | null;
  readonly sessionId: string;
  readonly createdAt: number;
  /** The KNOCK the channel runs under, if any. */
  readonly knock: KnockGrant | null;
}

export interface TrustCheckOptions {
  /** A higher bar than the bridge's own for this call; a lower one is ignored. */
  minTrustScore?: number;
}

/**
 * Opens and accepts encrypted channels only with peers that pass a mutual trust handshake and
 * the threshold; a peer that fails never reaches X3DH, on either side. Associated data is the
 * reference's `"<initiator DID>|<responder DID>"`, so its agents interoperate.
 */
export class EncryptedTrustBridge {
  readonly agentDid: string;
  readonly minTrustScore: number;
  readonly handshake: TrustHandshake;
  readonly #keyManager: X3DHKeyManager;
  readonly #crypto: CryptoProvider;
  readonly #now: Clock;
  readonly #transport: TrustTransport;
  readonly #knocks: KnockExchange;
  readonly #hooks: GovernanceHooks;
  readonly #prekeyStore: PreKeyStore | undefined;
  readonly #requireKnock: boolean;
  readonly #channelOptions: Omit<ChannelOptions, 'crypto'>;
  readonly #sessions = new Map<string, EncryptedPeerSession>();
  /** Accepted KNOCKs not yet used by a channel, by peer. */
  readonly #grants = new Map<string, KnockGrant>();
  readonly #unlisten: () => void;

  constructor(options: EncryptedTrustBridgeOptions) {
    const { keyManager, identity } = options;
    if (!keyManager || !(keyManager.identityKeyEd instanceof Uint8Array)) throw new TrustConfigError('keyManager is required');
    if (!identity || !(identity.publicKey instanceof Uint8Array)) {
      throw new TrustConfigError('identity (the agent\'s AgentIdentity) is required: the handshake signs with it');
    }
    this.#crypto = options.crypto ?? keyManager.crypto;
    if (!this.#crypto.constantTimeEqual(identity.publicKey, keyManager.identityKeyEd)) {
      throw new TrustConfigError('identity and keyManager hold different Ed25519 keys');
    }
    if (!options.trustProvider || !options.transport) throw new TrustConfigError('trustProvider and transport are required');
    const agentDid = options.agentDid ?? identity.did;
    if (typeof agentDid !== 'string') throw new TrustConfigError('agentDid is required when the identity has no did');
    this.#now = options.now ?? systemClock;
    this.handshake = new TrustHandshake({
      identity,
      agentDid,
      trustProvider: options.trustProvider,
      transport: options.transport,
      minTrustScore: options.minTrustScore,
      crypto: this.#crypto,
      now: this.#now,
      cacheTtlMs: options.cacheTtlMs,
      timeoutMs: options.handshakeTimeoutMs,
      challengeSeconds: options.challengeSeconds,
    });
    this.agentDid = agentDid;
    this.minTrustScore = this.handshake.minTrustScore;
    this.#keyManager = keyManager;
    this.#transport = options.transport;
    this.#hooks = { preSendPolicy: options.preSendPolicy, postReceivePolicy: options.postReceivePolicy, audit: options.audit };
    this.#prekeyStore = options.prekeyStore;
    this.#requireKnock = options.requireKnock ?? false;
    this.#channelOptions = options.channelOptions ?? {};
    this.#knocks = new KnockExchange({
      agentDid,
      identity,
      trustProvider: options.trustProvider,
      policy: options.knockPolicy ?? defaultKnockPolicy({ minTrustScore: this.minTrustScore, capabilities: options.capabilities ?? [] }),
      crypto: this.#crypto,
      now: this.#now,
      provenKey: (did) => this.handshake.cache.provenKey(did),
    });
    this.#unlisten = this.#transport.listen((frame) => this.handleFrame(frame));
  }

  /** Active sessions by peer DID (a copy). */
  get activeSessions(): ReadonlyMap<string, EncryptedPeerSession> {
    return new Map(this.#sessions);
  }

  /**
   * This agent's public bundle, with a fresh one-time pre-key unless told otherwise. Generates the
   * first signed pre-key if there is none yet.
   */
  async publishPrekeyBundle(options: { includeOneTimePreKey?: boolean } = {}): Promise<PreKeyBundle> {
    if (!this.#keyManager.signedPreKey) await this.#keyManager.generateSignedPreKey();
    let otkId: number | null = null;
    if (options.includeOneTimePreKey !== false) {
      const [otk] = await this.#keyManager.generateOneTimePreKeys(1);
      otkId = otk!.keyId;
    }
    const bundle = this.#keyManager.getPublicBundle(otkId);
    await this.#prekeyStore?.storeBundle(this.agentDid, bundle);
    return bundle;
  }

  /** Runs (or reuses, within its TTL and threshold) the mutual handshake with `peerDid`. Throws `TrustError`. */
  async verifyPeer(peerDid: string, options: TrustCheckOptions = {}): Promise<PeerVerification> {
    return this.handshake.verifyPeer(peerDid, { minTrustScore: this.#threshold(options) });
  }

  /**
   * Asks `peerDid` for a channel for `intent`. On acceptance the next channel with that peer, on
   * both sides, runs under the granted conditions.
   */
  async knock(peerDid: string, intent: KnockIntent, options: TrustCheckOptions = {}): Promise<KnockOutcome> {
    assertPeerDid(peerDid, this.agentDid);
    const frame = await this.#knocks.createKnock(peerDid, intent);
    const verification = await this.verifyPeer(peerDid, options);
    const answer = await requestAnswer(this.#transport, frame, this.handshake.timeoutMs);
    const outcome = await this.#knocks.readAnswer(answer, frame, verification.publicKey);
    if (outcome.accepted) {
      const { accepted: _accepted, ...grant } = outcome;
      this.#grants.set(peerDid, grant);
    }
    return outcome;
  }

  /**
   * Trust first (handshake + threshold), then the bundle's identity against the key the peer
   * proved, then X3DH and the Double Ratchet. Replaces (and closes) any session with the peer.
   */
  async openSecureChannel(peerDid: string, bundle: PreKeyBundle, options: TrustCheckOptions = {}): Promise<TrustedChannel> {
    assertPeerDid(peerDid, this.agentDid);
    checkBundleShape(bundle);
    const verification = await this.verifyPeer(peerDid, options);
    if (!this.#crypto.constantTimeEqual(bundle.identityKeyEd, verification.publicKey)) {
      throw new TrustError('did_key_mismatch', `the bundle's identity key is not the key ${peerDid} proved`, { peerDid });
    }
    const ad = utf8(`${this.agentDid}|${peerDid}`);
    const [channel, establishment] = await SecureChannel.createSender(this.#keyManager, bundle, ad, {
      ...this.#channelOptions,
      crypto: this.#crypto,
    });
    return this.#startSession(peerDid, 'initiator', channel, establishment, establishment, verification);
  }

  /**
   * Trust first (handshake + threshold, reusing the verification from the peer's own handshake
   * when it passed this threshold), then the establishment's identity key against the X25519
   * form of the key the peer proved, then X3DH.
   */
  async acceptSecureChannel(peerDid: string, establishment: ChannelEstablishment | EstablishmentJson | string, options: TrustCheckOptions = {}): Promise<TrustedChannel> {
    assertPeerDid(peerDid, this.agentDid);
    const est = readEstablishment(establishment);
    if (this.#requireKnock && !this.#grants.has(peerDid)) {
      throw new TrustError('knock_required', `${peerDid} has no accepted KNOCK and this agent requires one`, { peerDid });
    }
    const verification = await this.verifyPeer(peerDid, options);
    const expected = this.#crypto.ed25519ToX25519Public(verification.publicKey);
    if (!this.#crypto.constantTimeEqual(expected, est.identityKey)) {
      throw new TrustError('did_key_mismatch', `the establishment's identity key is not the key ${peerDid} proved`, { peerDid });
    }
    const ad = utf8(`${peerDid}|${this.agentDid}`);
    const channel = await SecureChannel.createReceiver(this.#keyManager, est, ad, { ...this.#channelOptions, crypto: this.#crypto });
    return this.#startSession(peerDid, 'responder', channel, est, null, verification);
  }

  getSession(peerDid: string): EncryptedPeerSession | undefined {
    return this.#sessions.get(peerDid);
  }

  /** Zeroes the session's keys and forgets it. */
  async closeSession(peerDid: string): Promise<boolean> {
    const session = this.#sessions.get(peerDid);
    if (!session) return false;
    this.#sessions.delete(peerDid);
    await session.channel.close();
    return true;
  }

  /** Closes every session (on shutdown); returns how many there were. */
  async closeAllSessions(): Promise<number> {
    const peers = [...this.#sessions.keys()];
    for (const peer of peers) await this.closeSession(peer);
    return peers.length;
  }

  /** Closes every session and stops answering handshakes and KNOCKs. */
  async shutdown(): Promise<void> {
    this.#unlisten();
    this.#grants.clear();
    this.handshake.cache.clear();
    await this.closeAllSessions();
  }

  /** Answers one incoming frame (the transport calls this). Never throws: failures become `error` frames. */
  async handleFrame(input: unknown): Promise<AgentMeshFrame> {
    try {
      const type = typeof input === 'object' && input !== null ? (input as { type?: unknown }).type : undefined;
      if (type === KNOCK_FRAMES.knock) {
        const { answer, grant } = await this.#knocks.answerKnock(input);
        if (grant) this.#grants.set(grant.peerDid, grant);
        return answer;
      }
      const answer = await this.handshake.handleFrame(input);
      return answer ?? this.handshake.errorFrame(input, 'unsupported', `frames of type ${JSON.stringify(String(type).slice(0, 64))} are not answered here`);
    } catch {
      return this.handshake.errorFrame(input, 'internal', 'the frame could not be handled');
    }
  }

  #threshold(options: TrustCheckOptions): number {
    return Math.max(this.minTrustScore, options.minTrustScore ?? 0);
  }

  async #startSession(
    peerDid: string,
    role: 'initiator' | 'responder',
    channel: SecureChannel,
    est: ChannelEstablishment,
    establishment: ChannelEstablishment | null,
    verification: PeerVerification,
  ): Promise<TrustedChannel> {
    const createdAt = this.#now();
    const knock = this.#grants.get(peerDid) ?? null;
    this.#grants.delete(peerDid);
    const sessionId = toHex(sha256(concatBytes(channel.associatedData, est.ephemeralKey)).subarray(0, 16));
    const trusted = new TrustedChannel({
      channel,
      localDid: this.agentDid,
      peerDid,
      sessionId,
      createdAt,
      guard: knock ? new ConditionGuard(knock.conditions, knock.grantedAt, this.#now) : null,
      actionEnvelope: knock?.actionEnvelope ?? false,
      hooks: this.#hooks,
      crypto: this.#crypto,
      now: this.#now,
    });
    const previous = this.#sessions.get(peerDid);
    this.#sessions.set(peerDid, { peerDid, role, channel: trusted, verification, establishment, sessionId, createdAt, knock });
    if (previous) await previous.channel.close();
    return trusted;
  }
}

/** An establishment object, or its JSON form (object or text); checked before any trust or X3DH work. */
function readEstablishment(input: unknown): ChannelEstablishment {
  if (typeof input === 'object' && input !== null && (input as ChannelEstablishment).identityKey instanceof Uint8Array) {
    const e = input as ChannelEstablishment;
    const key = (v: unknown) => v instanceof Uint8Array && v.length === 32;
    const id = (v: unknown) => v === null || v === undefined || (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff);
    if (!key(e.identityKey) || !key(e.ephemeralKey) || !id(e.usedOneTimeKeyId) || !id(e.signedPreKeyId)) {
      throw new InvalidEstablishmentError('invalid establishment: keys must be 32 bytes and key ids uint32 or null');
    }
    return { identityKey: e.identityKey, ephemeralKey: e.ephemeralKey, usedOneTimeKeyId: e.usedOneTimeKeyId ?? null, signedPreKeyId: e.signedPreKeyId ?? null };
  }
  return decodeEstablishment(input);
}
