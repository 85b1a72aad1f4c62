import type { RelayClient, RelaySendOptions } from '../net/relay-client.js';
import type { RoutedFrame } from '../net/frames.js';
import { TrustTransportError } from '../trust/errors.js';
import type { AgentMeshFrame } from '../trust/frame.js';
import type { FrameHandler, TrustTransport } from '../trust/transport.js';

/** Frame types that ask this agent something (answered with a frame carrying `reply_to`). */
const REQUEST_TYPES = new Set(['trust_challenge', 'trust_proof']);
const MAX_PENDING = 256;

interface Pending {
  to: string;
  resolve: (frame: unknown) => void;
  reject: (error: unknown) => void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * The trust handshake's request–answer transport over the relay. Requests are frames routed to the
 * peer; answers come back as frames whose `reply_to` names the request's `id`.
 */
export class RelayTrustTransport implements TrustTransport {
  readonly #relay: RelayClient;
  readonly #timeoutMs: number;
  readonly #pending = new Map<string, Pending>();
  #handler: FrameHandler | null = null;

  readonly #background: (peerDid: string) => boolean;

  /** `background(peer)`: whether requests to that peer go in the relay's background lane (work for strangers). */
  constructor(relay: RelayClient, options: { timeoutMs?: number; background?: (peerDid: string) => boolean } = {}) {
    this.#relay = relay;
    this.#timeoutMs = options.timeoutMs ?? 15_000;
    this.#background = options.background ?? (() => false);
  }

  /** Whether a frame belongs to this transport (and must not wait behind application messages). */
  static claims(frame: { type: string; reply_to?: unknown }): boolean {
    return REQUEST_TYPES.has(frame.type) || typeof frame.reply_to === 'string';
  }

  /** Whether a frame asks this agent for an answer (rather than answering one of its requests). */
  static isRequest(frame: { type: string; reply_to?: unknown }): boolean {
    return REQUEST_TYPES.has(frame.type) && typeof frame.reply_to !== 'string';
  }

  async request(frame: AgentMeshFrame): Promise<unknown> {
    if (this.#pending.size >= MAX_PENDING) throw new TrustTransportError('too many handshake requests in flight');
    const answer = new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(frame.id);
        reject(new TrustTransportError(`no answer from ${frame.to} within ${this.#timeoutMs} ms`));
      }, this.#timeoutMs);
      this.#pending.set(frame.id, { to: frame.to, resolve, reject, timer });
    });
    // The timeout may fire while the frame still waits to be sent (a busy background lane): the
    // caller gets the rejection when it awaits the answer, and nothing is left unhandled meanwhile.
    answer.catch(() => undefined);
    try {
      await this.#relay.send({ ...frame }, { background: this.#background(frame.to) });
    } catch (cause) {
      this.#settle(frame.id)?.reject(new TrustTransportError(`could not send to ${frame.to}`, { cause }));
    }
    return answer;
  }

  listen(handler: FrameHandler): () => void {
    this.#handler = handler;
    return () => {
      if (this.#handler === handler) this.#handler = null;
    };
  }

  /** Feeds a frame from the relay; returns whether this transport consumed it. */
  async deliver(frame: RoutedFrame): Promise<boolean> {
    const replyTo = (frame as { reply_to?: unknown }).reply_to;
    if (typeof replyTo === 'string') {
      const pending = this.#pending.get(replyTo);
      // An answer counts only from the agent the request went to.
      if (pending && pending.to === frame.from) this.#settle(replyTo)!.resolve(frame);
      return true;
    }
    if (!REQUEST_TYPES.has(frame.type)) return false;
    const handler = this.#handler;
    if (!handler) return true;
    await this.reply(frame, await handler(frame));
    return true;
  }

  /** Sends `answer` to the agent that sent `request`, naming the request it answers. */
  async reply(request: RoutedFrame, answer: AgentMeshFrame, options: RelaySendOptions = {}): Promise<void> {
    await this.#relay.send({ ...answer, reply_to: request.id }, options);
  }

  /** Fails every request in flight (on shutdown). */
  close(): void {
    for (const id of [...this.#pending.keys()]) this.#settle(id)?.reject(new TrustTransportError('the transport was closed'));
  }

  #settle(id: string): Pending | undefined {
    const pending = this.#pending.get(id);
    if (!pending) return undefined;
    clearTimeout(pending.timer);
    this.#pending.delete(id);
    return pending;
  }
}
