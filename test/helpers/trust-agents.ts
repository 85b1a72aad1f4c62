import { AgentIdentity } from '../../src/identity/agent-identity.js';
import { X3DHKeyManager } from '../../src/x3dh/key-manager.js';
import { EncryptedTrustBridge, type EncryptedTrustBridgeOptions } from '../../src/bridge/index.js';
import { InMemoryTrustNetwork, StaticTrustProvider, type TrustProvider, type TrustTransport } from '../../src/trust/index.js';

/** An agent's identity and key manager over the same Ed25519 key. */
export async function makeAgent() {
  const identity = await AgentIdentity.generate();
  const keyManager = await X3DHKeyManager.fromEd25519Keys(identity.secretKey, identity.publicKey);
  return { identity, keyManager, did: identity.did };
}

export type TestAgent = Awaited<ReturnType<typeof makeAgent>>;

/** A clock tests move by hand. */
export function fakeClock(start = Date.UTC(2026, 0, 1)) {
  let t = start;
  return {
    now: () => t,
    advance(ms: number) {
      t += ms;
    },
  };
}

/** A transport that passes every frame through `tap` (which may rewrite or swallow it) first. */
export function tapTransport(
  inner: TrustTransport,
  tap: { request?: (frame: any, send: (f: any) => Promise<unknown>) => Promise<unknown> },
): TrustTransport {
  return {
    request: (frame) => (tap.request ? tap.request(frame, (f) => inner.request(f)) : inner.request(frame)),
    listen: (handler) => inner.listen(handler),
  };
}

export interface BridgePairOptions {
  aliceScore?: number;
  bobScore?: number;
  aliceMin?: number;
  bobMin?: number;
  alice?: Partial<EncryptedTrustBridgeOptions>;
  bob?: Partial<EncryptedTrustBridgeOptions>;
  now?: () => number;
  provider?: TrustProvider;
}

/** Alice and Bob with bridges on one in-memory network and one static trust provider. */
export async function bridgePair(options: BridgePairOptions = {}) {
  const a = await makeAgent();
  const b = await makeAgent();
  const provider =
    options.provider ?? new StaticTrustProvider({ [a.did]: options.aliceScore ?? 850, [b.did]: options.bobScore ?? 850 });
  const network = new InMemoryTrustNetwork();
  const common = { trustProvider: provider, ...(options.now ? { now: options.now } : {}) };
  const alice = new EncryptedTrustBridge({
    agentDid: a.did,
    keyManager: a.keyManager,
    identity: a.identity,
    minTrustScore: options.aliceMin ?? 700,
    transport: network.endpoint(a.did),
    ...common,
    ...options.alice,
  });
  const bob = new EncryptedTrustBridge({
    agentDid: b.did,
    keyManager: b.keyManager,
    identity: b.identity,
    minTrustScore: options.bobMin ?? 700,
    transport: network.endpoint(b.did),
    ...common,
    ...options.bob,
  });
  return { a, b, alice, bob, provider, network };
}
