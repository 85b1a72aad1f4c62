/**
 * What the relay and the pre-key handlers may use of their agent's object: its store, its config,
 * its clock and request authentication, plus the few runtime services each names below. They take
 * these interfaces, not the whole `AgentObject`, so that each depends only on what it uses and
 * only the entry modules import agent-object.ts.
 */
import type { AgentStore, Registration } from './agent-store.js';
import type { Authenticated } from './auth.js';
import type { Config } from './config.js';
import type { DeliverResult } from './rpc.js';

/** What a handler needs to know about the request it serves. */
export interface RequestContext {
  readonly request: Request;
  readonly url: URL;
  /** Path and query exactly as signed. */
  readonly signedPath: string;
  readonly now: number;
  /** Credentials carried elsewhere than the `Authorization` header (the relay's signed upgrade URL). */
  readonly authorization?: string | null;
}

/** Request authentication, against the agent the object holds. */
export interface RequestAuth {
  /** The registration, if `did` is the agent the object holds; otherwise a 404. */
  registered(did: string): Registration;
  /** Authenticates any registered agent (someone else's key is fetched from its own object). */
  authenticate(ctx: RequestContext, body: Uint8Array | null): Promise<Authenticated>;
  /** Authenticates the agent the object holds; anyone else gets 403. */
  authenticateOwner(ctx: RequestContext, did: string, body: Uint8Array | null): Promise<Registration>;
}

/** Store, config, clock and auth: what every handler of an agent's object uses. */
export interface AgentHost extends RequestAuth {
  readonly store: AgentStore;
  /** Read at each use, never kept: the object may replace it (tests lower the limits). */
  readonly config: Config;
  /** The clock (tests move it to exercise expiry). */
  now(): number;
}

/** The pre-key handlers also run a synchronous storage transaction and limit claims per caller. */
export interface PreKeyHost extends AgentHost {
  readonly state: { readonly storage: Pick<DurableObjectStorage, 'transactionSync'> };
  /** Throws 429 when `caller` (`did:…` or `ip:…`) claims one-time pre-keys too fast. */
  limitClaims(caller: string, now: number): void;
}

/** The relay also holds the object's WebSockets and alarm, and delivers to other agents' objects. */
export interface RelayHost extends AgentHost {
  readonly state: Pick<DurableObjectState, 'getWebSockets' | 'acceptWebSocket'> & {
    readonly storage: Pick<DurableObjectStorage, 'getAlarm' | 'setAlarm'>;
  };
  /** Hands a frame to the object of the agent `did` (`AgentRpc.deliver`); rejects when that object cannot be reached. */
  deliverTo(did: string, frameText: string, sender: string, id: string, tsMs: number, urgent: boolean): Promise<DeliverResult>;
  /** Tells the object of `sender` that it wrote to `peer` (`AgentRpc.notePeer`); never fails. */
  notePeerOf(sender: string, peer: string): Promise<void>;
}
