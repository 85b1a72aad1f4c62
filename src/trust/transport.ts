import type { AgentMeshFrame } from './frame.js';
import { TrustTransportError } from './errors.js';
import { TRUST_LIMITS } from './limits.js';

/** Answers one incoming frame. The argument is untrusted: parse it before reading it. */
export type FrameHandler = (frame: unknown) => Promise<AgentMeshFrame>;

/**
 * Request–answer delivery between agents: the relay provides one, tests use the in-memory network.
 * Answers are untrusted input, whatever the transport promises about them.
 */
export interface TrustTransport {
  /** Delivers `frame` to the agent `frame.to` names and resolves with that agent's answer. */
  request(frame: AgentMeshFrame): Promise<unknown>;
  /** Installs the handler for frames addressed to this endpoint; returns a function that removes it. */
  listen(handler: FrameHandler): () => void;
}

/**
 * Agents in one process, addressed by DID. Frames cross as JSON text, so no object is shared
 * between the two sides and every answer goes through the receiver's parser, as over a network.
 */
export class InMemoryTrustNetwork {
  readonly #handlers = new Map<string, FrameHandler>();

  endpoint(did: string): TrustTransport {
    const handlers = this.#handlers;
    return {
      async request(frame: AgentMeshFrame): Promise<unknown> {
        const text = toJson(frame);
        const handler = handlers.get(frame.to);
        if (!handler) throw new TrustTransportError(`no agent listens at ${frame.to}`);
        await Promise.resolve();
        let answer: AgentMeshFrame;
        try {
          answer = await handler(JSON.parse(text) as unknown);
        } catch (cause) {
          throw new TrustTransportError(`the agent at ${frame.to} failed to answer`, { cause });
        }
        return JSON.parse(toJson(answer)) as unknown;
      },
      listen(handler: FrameHandler): () => void {
        handlers.set(did, handler);
        return () => {
          if (handlers.get(did) === handler) handlers.delete(did);
        };
      },
    };
  }
}

/** Two endpoints that reach each other: the usual test setup. */
export function createInMemoryTransportPair(didA: string, didB: string): [TrustTransport, TrustTransport] {
  const network = new InMemoryTrustNetwork();
  return [network.endpoint(didA), network.endpoint(didB)];
}

function toJson(frame: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(frame);
  } catch (cause) {
    throw new TrustTransportError('the frame cannot be encoded as JSON', { cause });
  }
  if (text === undefined) throw new TrustTransportError('the frame cannot be encoded as JSON');
  if (text.length > TRUST_LIMITS.maxFrameChars) throw new TrustTransportError(`frame longer than ${TRUST_LIMITS.maxFrameChars} characters`);
  return text;
}
