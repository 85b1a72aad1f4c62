/**
 * The tutorial's section 4 (EncryptedTrustBridge), in TypeScript: camelCase, `await` where WebCrypto
 * or the network is touched, real DIDs instead of `did:mesh:alice`, and the trust provider and
 * transport the handshake needs.
 */
import { describe, expect, it } from 'vitest';
import {
  AgentIdentity,
  EncryptedTrustBridge,
  InMemoryTrustNetwork,
  StaticTrustProvider,
  X3DHKeyManager,
  fromUtf8,
  utf8,
} from '../src/index.js';

describe('tutorial section 4: EncryptedTrustBridge', () => {
  it('trust verification → X3DH → Double Ratchet, then session management', async () => {
    const aliceId = await AgentIdentity.generate();
    const bobId = await AgentIdentity.generate();
    const aliceMgr = await X3DHKeyManager.fromEd25519Keys(aliceId.secretKey, aliceId.publicKey);
    const bobMgr = await X3DHKeyManager.fromEd25519Keys(bobId.secretKey, bobId.publicKey);
    // The scores both agents see (the registry-backed provider comes with the Worker).
    const trustProvider = new StaticTrustProvider({ [aliceId.did]: 820, [bobId.did]: 850 });
    const network = new InMemoryTrustNetwork();

    // Alice's bridge requires trust score ≥ 700
    const aliceBridge = new EncryptedTrustBridge({
      agentDid: aliceId.did,
      keyManager: aliceMgr,
      identity: aliceId,
      minTrustScore: 700,
      trustProvider,
      transport: network.endpoint(aliceId.did),
    });

    // Bob publishes pre-keys
    const bobBridge = new EncryptedTrustBridge({
      agentDid: bobId.did,
      keyManager: bobMgr,
      identity: bobId,
      trustProvider,
      transport: network.endpoint(bobId.did),
    });
    const bobBundle = await bobBridge.publishPrekeyBundle();
    expect(bobBundle.oneTimePreKey).not.toBeNull();

    // Alice opens channel (trust verification → X3DH → Double Ratchet)
    const channel = await aliceBridge.openSecureChannel(bobId.did, bobBundle);

    // Bob accepts
    const bobChannel = await bobBridge.acceptSecureChannel(aliceId.did, aliceBridge.getSession(bobId.did)!.establishment!);

    // Exchange messages
    const enc = await channel.send(utf8('transfer $1000 to account X'));
    expect(fromUtf8(await bobChannel.receive(enc))).toBe('transfer $1000 to account X');
    const reply = await bobChannel.send(utf8('done'));
    expect(fromUtf8(await channel.receive(reply))).toBe('done');

    // The handshake was mutual and both sides scored the other.
    expect(aliceBridge.getSession(bobId.did)!.verification.trustScore).toBe(850);
    expect(bobBridge.getSession(aliceId.did)!.verification.trustScore).toBe(820);
    expect(channel.sessionId).toBe(bobChannel.sessionId);

    // List active sessions
    const sessions = aliceBridge.activeSessions;
    expect([...sessions.keys()]).toEqual([bobId.did]);

    // Close one session
    expect(await aliceBridge.closeSession(bobId.did)).toBe(true);
    expect(channel.isClosed).toBe(true);
    expect(aliceBridge.activeSessions.size).toBe(0);

    // Close all sessions (e.g., on agent shutdown)
    expect(await bobBridge.closeAllSessions()).toBe(1);
    expect(bobChannel.isClosed).toBe(true);
    expect(await aliceBridge.closeAllSessions()).toBe(0);
  });

  it('works with legacy did:mesh: names whose keys the trust provider knows', async () => {
    const aliceId = await AgentIdentity.generate();
    const bobId = await AgentIdentity.generate();
    const aliceDid = 'did:mesh:' + 'a1'.repeat(16);
    const bobDid = 'did:mesh:' + 'b2'.repeat(16);
    const trustProvider = new StaticTrustProvider({
      [aliceDid]: { score: 800, publicKey: aliceId.publicKey },
      [bobDid]: { score: 900, publicKey: bobId.publicKey },
    });
    const network = new InMemoryTrustNetwork();
    const make = async (did: string, id: AgentIdentity) =>
      new EncryptedTrustBridge({
        agentDid: did,
        keyManager: await X3DHKeyManager.fromEd25519Keys(id.secretKey, id.publicKey),
        identity: id,
        trustProvider,
        transport: network.endpoint(did),
      });
    const alice = await make(aliceDid, aliceId);
    const bob = await make(bobDid, bobId);
    const channel = await alice.openSecureChannel(bobDid, await bob.publishPrekeyBundle());
    const bobChannel = await bob.acceptSecureChannel(aliceDid, alice.getSession(bobDid)!.establishment!);
    expect(fromUtf8(await bobChannel.receive(await channel.send(utf8('hi'))))).toBe('hi');
  });
});
