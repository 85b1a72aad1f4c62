/**
 * The RPC surfaces of the Durable Objects, as another object's stub sees them. `Env` types its
 * namespaces with these rather than with the classes, so that env.ts imports no object module
 * (and no object module imports itself back through env.ts); each class implements its surface,
 * so the compiler keeps the two in step.
 */

/** What `deliver` did with a frame: stored or pushed (or a duplicate), or refused with an HTTP status and code. */
export type DeliverResult =
  | { ok: true; status: 'stored' | 'delivered' | 'duplicate' }
  | { ok: false; status: number; code: string; message: string };

/** One agent's object (`AgentObject`), named by the agent's DID. */
export interface AgentRpc extends Rpc.DurableObjectBranded {
  /** The registered Ed25519 key (base64url), or null. */
  publicKey(): Promise<string | null>;
  /** Stores a frame another agent sent here and pushes it to an open socket (`urgent`: at once, see `isUrgent`). */
  deliver(frameText: string, sender: string, id: string, tsMs: number, urgent?: boolean): Promise<DeliverResult>;
  /** Records that this agent wrote to `peer` over HTTP (its frames here are then an established peer's). */
  notePeer(peer: string): Promise<void>;
}

/** The discovery directory (`DirectoryObject`), named `directory`. */
export interface DirectoryRpc extends Rpc.DurableObjectBranded {
  upsert(did: string, capabilities: string[], trustScore: number): Promise<void>;
  setTrustScore(did: string, trustScore: number): Promise<void>;
  remove(did: string): Promise<void>;
}
