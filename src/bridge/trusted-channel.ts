import type { ChannelSnapshot, SecureChannel } from '../channel/secure-channel.js';
import { sha256, type CryptoProvider } from '../crypto/index.js';
import { toHex, type Bytes } from '../encoding.js';
import { AgentMeshError, ChannelClosedError, InvalidMessageError } from '../errors.js';
import type { ChannelConditions, ConditionGuard } from '../trust/channel-conditions.js';
import type { Clock } from '../trust/clock.js';
import { ChannelConditionError } from '../trust/errors.js';
import { isoTime, randomUuid } from '../trust/frame.js';
import { openEnvelope, sealEnvelope } from '../wire/action-envelope.js';
import { EncryptedMessage } from '../wire/encrypted-message.js';
import { PolicyDeniedError } from './errors.js';
import { evaluatePolicy, type AuditEvent, type GovernanceHooks, type PolicyDecision } from './governance.js';

export interface TrustedChannelInit {
  readonly channel: SecureChannel;
  readonly localDid: string;
  readonly peerDid: string;
  readonly sessionId: string;
  readonly createdAt: number;
  readonly guard: ConditionGuard | null;
  /** Both sides agreed on the action envelope in the KNOCK exchange (needs `guard`). */
  readonly actionEnvelope?: boolean;
  readonly hooks: GovernanceHooks;
  readonly crypto: CryptoProvider;
  readonly now: Clock;
}

export interface SendOptions {
  /** The action this message carries out: shown to the pre-send policy, checked against a KNOCK's allowed actions. */
  intent?: string;
  /** The id the audit event records (default: a new UUID). */
  messageId?: string;
}

export interface ReceiveOptions {
  /** The frame id the message arrived under, for the audit event (default: a hash of the message). */
  messageId?: string;
}

export interface ReceivedMessage {
  readonly plaintext: Bytes;
  /** The action the sender named in the action envelope (authenticated); null without the envelope or when it named none. */
  readonly intent: string | null;
}

/**
 * A SecureChannel to a verified peer, with the bridge's governance around each message: KNOCK
 * conditions, the pre-send and post-receive policies, and one audit event per attempt. Under a KNOCK
 * whose exchange agreed on the action envelope, each message carries its action inside the
 * ciphertext and the receiver holds it to the allowed actions; otherwise messages are v1's bytes.
 */
export class TrustedChannel {
  readonly localDid: string;
  readonly peerDid: string;
  /** The same on both sides: derived from the channel's associated data and the initiator's ephemeral key. */
  readonly sessionId: string;
  readonly createdAt: number;
  readonly #channel: SecureChannel;
  readonly #guard: ConditionGuard | null;
  /** The guard, when messages carry the action envelope (both sides agreed to it in the KNOCK exchange). */
  readonly #envelopeGuard: ConditionGuard | null;
  readonly #hooks: GovernanceHooks;
  readonly #crypto: CryptoProvider;
  readonly #now: Clock;
  #sent = 0;
  /** Sends and receives run one at a time, so a condition checked before one holds when it commits. */
  #tail: Promise<unknown> = Promise.resolve();

  constructor(init: TrustedChannelInit) {
    this.#channel = init.channel;
    this.localDid = init.localDid;
    this.peerDid = init.peerDid;
    this.sessionId = init.sessionId;
    this.createdAt = init.createdAt;
    this.#guard = init.guard;
    if (init.actionEnvelope && !init.guard) throw new TypeError('the action envelope goes with a KNOCK grant: pass its guard');
    this.#envelopeGuard = init.actionEnvelope === true ? init.guard : null;
    this.#hooks = init.hooks;
    this.#crypto = init.crypto;
    this.#now = init.now;
  }

  /** The KNOCK conditions this channel runs under, or null. */
  get conditions(): ChannelConditions | null {
    return this.#guard?.conditions ?? null;
  }

  /** Messages carry their action in the action envelope, checked on receive. */
  get actionEnvelope(): boolean {
    return this.#envelopeGuard !== null;
  }

  get isClosed(): boolean {
    return this.#channel.isClosed;
  }

  get messageCount(): number {
    return this.#channel.messageCount;
  }

  snapshot(): ChannelSnapshot {
    return this.#channel.snapshot();
  }

  /**
   * Checks the KNOCK's conditions, asks the pre-send policy, audits, then encrypts (inside the action
   * envelope when the channel carries it). Sends and receives are serialized: concurrent calls cannot
   * all pass the `max_messages` check before any of them is counted.
   */
  send(plaintext: Uint8Array, options: SendOptions = {}): Promise<EncryptedMessage> {
    return this.#exclusive(() => this.#send(plaintext, options));
  }

  async #send(plaintext: Uint8Array, options: SendOptions): Promise<EncryptedMessage> {
    const messageId = options.messageId ?? randomUuid(this.#crypto);
    const intent = options.intent ?? null;
    const audit = (decision: PolicyDecision, reason?: string) => this.#audit('send', messageId, decision, reason);
    let sealed: Bytes | null = null;
    try {
      if (!(plaintext instanceof Uint8Array)) throw new InvalidMessageError('a plaintext must be a Uint8Array');
      if (intent !== null && (typeof intent !== 'string' || intent.length > 128)) throw new InvalidMessageError('an intent is a string of at most 128 characters');
      this.#preflight('send', intent ?? undefined);
      if (this.#envelopeGuard) sealed = sealEnvelope(intent, plaintext);
    } catch (error) {
      await audit(error instanceof ChannelConditionError ? 'deny' : 'error', codeOf(error));
      throw error;
    }
    try {
      return await this.#sendChecked(sealed ?? plaintext, intent, audit);
    } finally {
      sealed?.fill(0);
    }
  }

  async #sendChecked(plaintext: Uint8Array, intent: string | null, audit: (decision: PolicyDecision, reason?: string) => Promise<void>): Promise<EncryptedMessage> {
    let verdict;
    try {
      verdict = await evaluatePolicy(this.#hooks.preSendPolicy, {
        action: 'agentmesh.send',
        sender: this.localDid,
        recipient: this.peerDid,
        intent,
        message_number: this.#sent,
        session_age_seconds: (this.#now() - this.createdAt) / 1000,
      });
    } catch (cause) {
      await audit('error', 'policy_error');
      throw new PolicyDeniedError('send', 'the pre-send policy failed', { cause });
    }
    if (!verdict.allow) {
      await audit('deny', verdict.reason);
      throw new PolicyDeniedError('send', verdict.reason);
    }
    // Audited before encrypting: a failing audit sink stops the message before any key is used.
    await audit('allow');
    const message = await this.#channel.send(plaintext);
    this.#sent += 1;
    return message;
  }

  /** `receiveWithIntent` without the intent. */
  async receive(message: EncryptedMessage | Uint8Array, options: ReceiveOptions = {}): Promise<Bytes> {
    return (await this.receiveWithIntent(message, options)).plaintext;
  }

  /**
   * Decrypts, then asks the post-receive policy before handing the plaintext out. With the action
   * envelope, a message whose action the KNOCK does not allow is refused (`ActionNotAllowedError`)
   * after it authenticated but before anything is committed: the ratchet, its skipped keys and the
   * message count stay as they were, and the next allowed message decrypts. A message the policy
   * refuses has advanced the ratchet (it authenticated); its plaintext is zeroed, never returned.
   */
  receiveWithIntent(message: EncryptedMessage | Uint8Array, options: ReceiveOptions = {}): Promise<ReceivedMessage> {
    return this.#exclusive(() => this.#receive(message, options));
  }

  async #receive(message: EncryptedMessage | Uint8Array, options: ReceiveOptions): Promise<ReceivedMessage> {
    const messageId = options.messageId ?? this.#hashId(message);
    const audit = (decision: PolicyDecision, reason?: string) => this.#audit('receive', messageId, decision, reason);
    let plaintext: Bytes;
    let intent: string | null = null;
    try {
      this.#preflight('receive');
      const guard = this.#envelopeGuard;
      if (guard) {
        const opened = await this.#channel.receive(message, (p) => guard.checkAction(openEnvelope(p).action, 'receive'));
        const { action, bodyOffset } = openEnvelope(opened);
        intent = action;
        plaintext = opened.slice(bodyOffset);
        opened.fill(0);
      } else {
        plaintext = await this.#channel.receive(message);
      }
    } catch (error) {
      await audit(error instanceof ChannelConditionError ? 'deny' : 'error', codeOf(error));
      throw error;
    }
    try {
      let verdict;
      try {
        verdict = await evaluatePolicy(this.#hooks.postReceivePolicy, {
          action: 'agentmesh.receive',
          sender: this.peerDid,
          recipient: this.localDid,
          intent,
          content_hash: toHex(sha256(plaintext)),
        });
      } catch (cause) {
        await audit('error', 'policy_error');
        throw new PolicyDeniedError('receive', 'the post-receive policy failed', { cause });
      }
      if (!verdict.allow) {
        await audit('deny', verdict.reason);
        throw new PolicyDeniedError('receive', verdict.reason);
      }
      await audit('allow');
      return { plaintext, intent };
    } catch (error) {
      plaintext.fill(0);
      throw error;
    }
  }

  #exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(task, task);
    this.#tail = run.catch(() => undefined);
    return run;
  }

  /** Zeroes every key of the channel. */
  async close(): Promise<void> {
    await this.#channel.close();
  }

  #preflight(direction: 'send' | 'receive', intent?: string): void {
    if (this.#channel.isClosed) throw new ChannelClosedError();
    this.#guard?.check(this.#channel.messageCount, direction, intent);
  }

  async #audit(direction: 'send' | 'receive', messageId: string, decision: PolicyDecision, reason?: string): Promise<void> {
    const hook = this.#hooks.audit;
    if (!hook) return;
    const event: AuditEvent = {
      event: 'agentmesh.message',
      direction,
      sender: direction === 'send' ? this.localDid : this.peerDid,
      recipient: direction === 'send' ? this.peerDid : this.localDid,
      message_id: messageId,
      session_id: this.sessionId,
      policy_decision: decision,
      timestamp: isoTime(this.#now()),
      ...(reason === undefined ? {} : { reason }),
    };
    await hook(event);
  }

  #hashId(message: EncryptedMessage | Uint8Array): string {
    const bytes = message instanceof EncryptedMessage ? message.serialize() : message instanceof Uint8Array ? message : new Uint8Array(0);
    return toHex(sha256(bytes).subarray(0, 16));
  }
}

function codeOf(error: unknown): string {
  if (error instanceof ChannelConditionError) return error.condition;
  return error instanceof AgentMeshError ? error.code : 'error';
}
