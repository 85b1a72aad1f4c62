import { getDefaultCryptoProvider, type CryptoProvider } from '../crypto/index.js';
import { utf8, type Bytes } from '../encoding.js';
import { AgentMeshError } from '../errors.js';
import { AgentIdentity } from '../identity/agent-identity.js';
import { decodeEstablishment, encodeEstablishment } from '../channel/establishment.js';
import type { RoutedFrame } from '../net/frames.js';
import type { FetchLike } from '../net/http.js';
import { checkDurationOption } from '../options.js';
import { RegistryClient } from '../net/registry-client.js';
import { RelayClient, type WebSocketFactory } from '../net/relay-client.js';
import { PreKeysClosedError } from '../prekeys/errors.js';
import { UPKEEP_INTERVAL_MS } from '../prekeys/policy.js';
import { SessionManager } from '../session/session-manager.js';
import type { SessionLocks } from '../storage/locks.js';
import type { AgentStore } from '../storage/store.js';
import { TrustError, TrustTransportError } from '../trust/errors.js';
import { RegistryError, RelayClosedError, RelayError } from '../net/errors.js';
import { StorageError, StoreClosedError, StoreConflictError } from '../storage/errors.js';
import { SessionExistsError, SessionManagerClosedError } from '../session/errors.js';
import { HANDSHAKE_FRAMES, TrustHandshake } from '../trust/handshake.js';
import { assertTrustScore, type TrustProvider } from '../trust/provider.js';
import type { PeerVerification } from '../trust/verification-cache.js';
import { EncryptedMessage } from '../wire/encrypted-message.js';
import { DeliveryTries, MAX_DELIVERY_TRIES } from './delivery-tries.js';
import { AgentClosedError, BudgetExceededError, DeliveryFailedError } from './errors.js';
import { RegistryTrustProvider } from './registry-trust-provider.js';
import { RelayTrustTransport } from './relay-trust-transport.js';
import { StrangerBudget, type SpentAllowance, type StrangerBudgetOptions } from './stranger-budget.js';

export interface MeshAgentOptions {
  /** The registry and relay service, e.g. `http://127.0.0.1:8787`. */
  registryUrl: string;
  /** Where the relay's WebSocket lives (default: `registryUrl`). */
  relayUrl?: string;
  /** Keeps the identity, pre-keys and sessions (memory, IndexedDB or Durable Object storage). */
  store: AgentStore;
  /** Used on first start; later starts load the stored identity. Generated when neither exists. */
  identity?: AgentIdentity;
  capabilities?: string[];
  metadata?: Record<string, unknown>;
  /** Score a peer needs, on both sides of a session (0–1000, default 500: an agent nobody has rated yet). */
  minTrustScore?: number;
  /** Default: the registry's scores and keys. */
  trustProvider?: TrustProvider;
  /** Run pre-key upkeep this often (default `UPKEEP_INTERVAL_MS`, 1 hour; 0 only at start). */
  upkeepIntervalMs?: number;
  handshakeTimeoutMs?: number;
  /**
   * What peers without a session may make this agent send (handshake answers, handshakes for
   * their establishment frames): `stranger-budget.ts`, defaults `DEFAULT_STRANGER_BUDGET`.
   */
  strangerBudget?: StrangerBudgetOptions;
  fetch?: FetchLike;
  webSocket?: WebSocketFactory;
  crypto?: CryptoProvider;
  locks?: SessionLocks;
  now?: () => number;
}

export interface ReceivedMessage {
  readonly from: string;
  /** The relay frame id. */
  readonly id: string;
  /** True for the message that opened the session. */
  readonly opened: boolean;
}

export type MessageHandler = (from: string, plaintext: Bytes, info: ReceivedMessage) => void | Promise<void>;

/**
 * A frame that can never be delivered (tampered, replayed, from a refused peer, past the work
 * budget of its sender, failed `MAX_DELIVERY_TRIES` times, …); it is acknowledged and dropped.
 */
export interface RejectedFrame {
  readonly from: string;
  readonly id: string;
  readonly type: string;
  readonly error: AgentMeshError;
}

/**
 * One object an application holds: identity, stores, registry and relay clients, trust handshake
 * and sessions. `send` to a new peer runs the mutual trust handshake, X3DH and the first message
 * transparently; later messages ride the stored ratchet. Received messages are acknowledged to the
 * relay only after the session store has persisted them and every handler has returned.
 */
export class MeshAgent {
  readonly did: string;
  readonly identity: AgentIdentity;
  readonly sessions: SessionManager;
  readonly registry: RegistryClient;
  readonly relay: RelayClient;
  readonly handshake: TrustHandshake;
  readonly #transport: RelayTrustTransport;
  readonly #handlers = new Set<MessageHandler>();
  readonly #rejectHandlers = new Set<(rejected: RejectedFrame) => void>();
  readonly #opening = new Map<string, Promise<void>>();
  readonly #minTrustScore: number;
  readonly #budget: StrangerBudget;
  /** Peers this agent is verifying because a stranger's establishment asked for it (their frames go in the background lane). */
  readonly #strangerHandshakes: Set<string>;
  readonly #tries = new DeliveryTries();
  #upkeepTimer: ReturnType<typeof setInterval> | null = null;
  #closed = false;

  private constructor(args: {
    identity: AgentIdentity;
    sessions: SessionManager;
    registry: RegistryClient;
    relay: RelayClient;
    handshake: TrustHandshake;
    transport: RelayTrustTransport;
    minTrustScore: number;
    budget: StrangerBudget;
    strangerHandshakes: Set<string>;
  }) {
    this.identity = args.identity;
    this.did = args.identity.did;
    this.sessions = args.sessions;
    this.registry = args.registry;
    this.relay = args.relay;
    this.handshake = args.handshake;
    this.#transport = args.transport;
    this.#minTrustScore = args.minTrustScore;
    this.#budget = args.budget;
    this.#strangerHandshakes = args.strangerHandshakes;
  }

  /** Loads or creates the identity, registers, publishes pre-keys and connects to the relay. */
  static async create(options: MeshAgentOptions): Promise<MeshAgent> {
    // Before anything is stored or sent: a bad option changes nothing.
    checkDurationOption('upkeepIntervalMs', options.upkeepIntervalMs, 0);
    checkDurationOption('handshakeTimeoutMs', options.handshakeTimeoutMs);
    if (options.minTrustScore !== undefined) assertTrustScore(options.minTrustScore, 'minTrustScore');
    const crypto = options.crypto ?? getDefaultCryptoProvider();
    const now = options.now ?? Date.now;
    const stored = await options.store.getIdentity();
    let self: AgentIdentity;
    if (stored) {
      self = await AgentIdentity.fromSeed(stored.seed, { crypto });
      stored.seed.fill(0);
    } else {
      self = options.identity ?? (await AgentIdentity.generate({ crypto }));
    }
    // A given identity that differs from the stored one is refused here (IdentityMismatchError).
    const sessions = await SessionManager.open({ store: options.store, identity: options.identity ?? self, crypto, locks: options.locks, now });
    const registry = new RegistryClient({ baseUrl: options.registryUrl, identity: self, fetch: options.fetch, crypto, now });
    const relay = new RelayClient({
      url: options.relayUrl ?? options.registryUrl,
      identity: self,
      webSocket: options.webSocket,
      crypto,
      now,
      unordered: (frame) => RelayTrustTransport.claims(frame),
    });
    const budget = new StrangerBudget(options.strangerBudget, now);
    const strangerHandshakes = new Set<string>();
    const transport = new RelayTrustTransport(relay, { timeoutMs: options.handshakeTimeoutMs, background: (did) => strangerHandshakes.has(did) });
    const minTrustScore = options.minTrustScore ?? 500;
    const handshake = new TrustHandshake({
      identity: self,
      agentDid: self.did,
      trustProvider: options.trustProvider ?? new RegistryTrustProvider(registry, { now }),
      transport,
      minTrustScore,
      crypto,
      now,
      timeoutMs: options.handshakeTimeoutMs,
    });
    const agent = new MeshAgent({ identity: self, sessions, registry, relay, handshake, transport, minTrustScore, budget, strangerHandshakes });
    relay.onFrame((frame) => agent.#onFrameSafely(frame));
    try {
      await registry.register({ capabilities: options.capabilities, metadata: options.metadata });
      await agent.runUpkeep();
      await relay.connect();
    } catch (error) {
      await agent.close();
      throw error;
    }
    const every = options.upkeepIntervalMs ?? UPKEEP_INTERVAL_MS;
    if (every > 0) {
      agent.#upkeepTimer = setInterval(() => void agent.runUpkeep().catch(() => undefined), every);
      (agent.#upkeepTimer as { unref?: () => void }).unref?.();
    }
    return agent;
  }

  /** Called with every decrypted message; returns a function that removes the handler. */
  onMessage(handler: MessageHandler): () => void {
    this.#handlers.add(handler);
    return () => this.#handlers.delete(handler);
  }

  /**
   * Called for every frame that can never be delivered. Such frames are acknowledged so that they
   * are not redelivered; failures that may pass (storage, network) are not, and come back later.
   */
  onRejected(handler: (rejected: RejectedFrame) => void): () => void {
    this.#rejectHandlers.add(handler);
    return () => this.#rejectHandlers.delete(handler);
  }

  /**
   * Encrypts and sends `plaintext` to `peerDid`. The first time, verifies the peer (mutual
   * handshake through the relay; the peer must be online for it), fetches its bundle and runs X3DH.
   * Resolves with the relay frame id once the relay has taken the frame.
   */
  async send(peerDid: string, plaintext: Uint8Array | string): Promise<string> {
    this.#assertOpen();
    const bytes = typeof plaintext === 'string' ? utf8(plaintext) : plaintext;
    await this.#ensureSession(peerDid);
    const { message, establishment } = await this.sessions.sendWithEstablishment(peerDid, bytes);
    const frame: Record<string, unknown> = { type: 'message', to: peerDid, ...message.toFrame() };
    // Until the peer has answered, every message carries the establishment, so any of them opens the session.
    if (establishment) frame.x3dh = encodeEstablishment(establishment);
    const receipt = await this.relay.send(frame as { type: string; to: string });
    return receipt.id;
  }

  /** Pre-key upkeep by the policy of `prekeys/policy.ts`: tops up one-time pre-keys and rotates an old signed pre-key. */
  async runUpkeep(): Promise<{ rotated: boolean; uploaded: number }> {
    const result = await this.sessions.preKeys.upkeep(this.registry);
    return { rotated: result.rotatedSignedPreKey, uploaded: result.uploadedOneTimePreKeys };
  }

  /** Disconnects and stops timers. Sessions stay in the store for the next start. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#upkeepTimer) clearInterval(this.#upkeepTimer);
    this.#transport.close();
    await this.relay.close();
    this.sessions.close();
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  async #ensureSession(peerDid: string): Promise<void> {
    if (await this.sessions.hasSession(peerDid)) return;
    let opening = this.#opening.get(peerDid);
    if (!opening) {
      opening = this.#open(peerDid).finally(() => this.#opening.delete(peerDid));
      this.#opening.set(peerDid, opening);
    }
    await opening;
  }

  async #open(peerDid: string): Promise<void> {
    if (await this.sessions.hasSession(peerDid)) return;
    const verification = await this.handshake.verifyPeer(peerDid);
    const bundle = await this.registry.fetchBundle(peerDid);
    if (!bundle) throw new TrustError('unknown_key', `${peerDid} has published no pre-keys`, { peerDid });
    if (!equalKeys(bundle.identityKeyEd, verification.publicKey)) {
      throw new TrustError('did_key_mismatch', `the bundle of ${peerDid} is not signed by the key its handshake proved`, { peerDid });
    }
    try {
      await this.sessions.initiate(peerDid, bundle, { associatedData: utf8(`${this.did}|${peerDid}`), trust: trustRecord(verification) });
    } catch (error) {
      // The peer's own establishment arrived while we were verifying it: that session serves both ways.
      if (!(error instanceof SessionExistsError)) throw error;
    }
  }

  async #onFrameSafely(frame: RoutedFrame): Promise<void> {
    let rejection: AgentMeshError;
    try {
      await this.#onFrame(frame);
      this.#tries.forget(frame.from, frame.id);
      return;
    } catch (error) {
      if (isPermanent(error)) rejection = error;
      else if (!isPeersDelay(error)) throw error;
      else {
        // A peer that keeps us waiting gets a bounded number of tries (one per redelivery), not one after every reconnect forever.
        const tries = this.#tries.record(frame.from, frame.id);
        if (tries < MAX_DELIVERY_TRIES) throw error;
        rejection = new DeliveryFailedError(tries, MAX_DELIVERY_TRIES, error);
      }
    }
    this.#tries.forget(frame.from, frame.id);
    for (const handler of this.#rejectHandlers) handler({ from: frame.from, id: frame.id, type: frame.type, error: rejection });
  }

  async #onFrame(frame: RoutedFrame): Promise<void> {
    if (RelayTrustTransport.isRequest(frame)) return this.#answerRequest(frame);
    if (await this.#transport.deliver(frame)) return;
    if (frame.type !== 'message') return;
    const message = EncryptedMessage.fromFrame(frame);
    const x3dh = (frame as { x3dh?: unknown }).x3dh;
    let plaintext: Bytes | null;
    let opened = false;
    if (x3dh) {
      const establishment = decodeEstablishment(x3dh);
      const known = await this.sessions.getSession(frame.from);
      const retransmit = known !== null && known.role === 'responder';
      // Gate before any X3DH work: the peer must pass the handshake at our threshold. A peer that
      // just ran its handshake with us is in the cache; otherwise the handshake is work on its behalf.
      const verification = this.handshake.cache.get(frame.from, this.#minTrustScore) ?? (await this.#verifyForPeer(frame.from, known !== null));
      plaintext = await this.sessions.accept(frame.from, establishment, {
        firstMessage: message,
        peerIdentityKeyEd: verification.publicKey,
        associatedData: utf8(`${frame.from}|${this.did}`),
        trust: trustRecord(verification),
      });
      // Not opened when this was a retransmission, or when our own simultaneous session won.
      opened = !retransmit && !(known?.role === 'initiator' && (await this.sessions.getSession(frame.from))?.role === 'initiator');
    } else {
      plaintext = await this.sessions.receive(frame.from, message);
    }
    if (!plaintext) return;
    const info: ReceivedMessage = { from: frame.from, id: frame.id, opened };
    for (const handler of this.#handlers) await handler(frame.from, plaintext, info);
  }

  /**
   * Answers a handshake request, paid from the sender's allowance and, for a stranger, from the
   * strangers' one: a challenge costs two frames (our response, and the result of the proof that
   * follows), anything else one; a proof for a counter-challenge we issued was paid with it.
   * Strangers' answers go in the relay's background lane, behind this agent's own frames.
   */
  async #answerRequest(frame: RoutedFrame): Promise<void> {
    const challenge = frame.type === HANDSHAKE_FRAMES.challenge;
    const cost = challenge ? 2 : 1;
    const prepaid = frame.type === HANDSHAKE_FRAMES.proof && this.handshake.awaitsProofFrom(frame.from) && this.#budget.collectPrepaid(frame.from);
    // The sender's own allowance first: a peer that floods us costs no store read past it.
    if (!prepaid && !this.#budget.peerCanPay(frame.from, cost)) throw this.#overBudget(frame.from, 'peer');
    const established = this.#opening.has(frame.from) || (await this.sessions.hasSession(frame.from));
    const spent = prepaid ? null : this.#budget.charge(frame.from, cost, !established);
    if (spent) throw this.#overBudget(frame.from, spent);
    const answer = (await this.handshake.handleFrame(frame, { established })) ?? this.handshake.errorFrame(frame, 'malformed', 'not a handshake request');
    if (challenge && answer.type === HANDSHAKE_FRAMES.response) this.#budget.prepay(frame.from);
    await this.#transport.reply(frame, answer, { background: !established });
  }

  /** The handshake an establishment frame needs, paid like a challenge (our challenge and our proof). */
  async #verifyForPeer(peerDid: string, known: boolean): Promise<PeerVerification> {
    const stranger = !known && !this.#opening.has(peerDid);
    if (!stranger) {
      const spent = this.#budget.charge(peerDid, 2, false);
      if (spent) throw this.#overBudget(peerDid, spent);
      return this.handshake.verifyPeer(peerDid);
    }
    const leave = this.#budget.enterHandshake();
    if (!leave) throw this.#overBudget(peerDid, 'handshakes');
    try {
      const spent = this.#budget.charge(peerDid, 2, true);
      if (spent) throw this.#overBudget(peerDid, spent);
      this.#strangerHandshakes.add(peerDid);
      return await this.handshake.verifyPeer(peerDid);
    } finally {
      this.#strangerHandshakes.delete(peerDid);
      leave();
    }
  }

  #overBudget(peerDid: string, allowance: SpentAllowance): BudgetExceededError {
    const o = this.#budget.options;
    const limit = { peer: o.perPeerFramesPerMinute, strangers: o.framesPerMinute, handshakes: o.handshakesInFlight }[allowance];
    return new BudgetExceededError(peerDid, allowance, limit);
  }

  #assertOpen(): void {
    if (this.#closed) throw new AgentClosedError();
  }
}

/** Transient failures the peer causes (it did not answer the handshake in time): they count toward `MAX_DELIVERY_TRIES`. */
function isPeersDelay(error: unknown): boolean {
  return error instanceof TrustError && error.reason === 'transport';
}

/** Errors that a retry cannot fix: the frame itself, or its sender, is bad. */
function isPermanent(error: unknown): error is AgentMeshError {
  if (!(error instanceof AgentMeshError)) return false;
  if (error instanceof TrustError) return !['transport', 'busy', 'provider_error'].includes(error.reason);
  return !TRANSIENT.some((type) => error instanceof type);
}

const TRANSIENT = [
  TrustTransportError,
  StorageError,
  StoreConflictError,
  StoreClosedError,
  RegistryError,
  RelayError,
  RelayClosedError,
  AgentClosedError,
  SessionManagerClosedError,
  PreKeysClosedError,
];

function equalKeys(a: Uint8Array, b: Uint8Array): boolean {
  return getDefaultCryptoProvider().constantTimeEqual(a, b);
}

function trustRecord(v: PeerVerification): { score: number; threshold: number; verifiedAt: number } {
  return { score: v.trustScore, threshold: v.threshold, verifiedAt: v.verifiedAt };
}
