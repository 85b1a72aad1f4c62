/**
 * Someone else's key where a peer's key belongs, layer by layer: a bundle, an establishment, a
 * handshake answer, a KNOCK — and a DID that is not its key's. Each is refused, before anything is
 * stored or consumed. (The Worker's side — registration, pre-key uploads, an agent refusing an
 * establishment a hostile relay injects — is in worker/test/abuse-identity.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { SecureChannel } from '../src/channel/secure-channel.js';
import { encodeEstablishment } from '../src/channel/establishment.js';
import { getDefaultCryptoProvider } from '../src/crypto/index.js';
import { concatBytes, toBase58, toBase64Url, utf8 } from '../src/encoding.js';
import { AuthenticationError, InvalidBundleError, InvalidDidError } from '../src/errors.js';
import { AgentIdentity } from '../src/identity/agent-identity.js';
import { checkDidKey, didFromPublicKey, parseDid } from '../src/identity/did.js';
import { checkBundleBelongsTo } from '../src/net/registry-client.js';
import { IdentityMismatchError } from '../src/session/errors.js';
import { SessionManager } from '../src/session/session-manager.js';
import { MemoryAgentStore } from '../src/storage/memory.js';
import { TrustConfigError, TrustError } from '../src/trust/errors.js';
import { TrustHandshake } from '../src/trust/handshake.js';
import { StaticTrustProvider } from '../src/trust/provider.js';
import type { PreKeyBundle } from '../src/x3dh/bundle.js';
import { X3DHKeyManager } from '../src/x3dh/key-manager.js';
import { bridgePair, makeAgent, tapTransport } from './helpers/trust-agents.js';

async function withKeys() {
  const identity = await AgentIdentity.generate();
  const keys = await X3DHKeyManager.fromEd25519Keys(identity.secretKey, identity.publicKey);
  await keys.generateSignedPreKey();
  const [otk] = await keys.generateOneTimePreKeys(1);
  return { identity, keys, did: identity.did, bundle: keys.getPublicBundle(otk!.keyId) };
}

async function manager() {
  const identity = await AgentIdentity.generate();
  const m = await SessionManager.open({ store: new MemoryAgentStore(), identity });
  await m.preKeys.rotateSignedPreKey();
  await m.preKeys.generateOneTimePreKeys(2);
  return m;
}

describe('bundles carrying someone else\'s key', () => {
  it('X3DH refuses a bundle that mixes two identities, before drawing any randomness', async () => {
    const [alice, bob, eve] = [await withKeys(), await withKeys(), await withKeys()];
    const mixes: [string, PreKeyBundle][] = [
      ["Eve's Ed25519 key on Bob's bundle", { ...bob.bundle, identityKeyEd: eve.bundle.identityKeyEd }],
      ["Eve's signed pre-key and signature on Bob's identity", { ...bob.bundle, signedPreKey: eve.bundle.signedPreKey, signedPreKeySignature: eve.bundle.signedPreKeySignature }],
      ["Eve's X25519 identity key beside Bob's Ed25519 key", { ...bob.bundle, identityKey: eve.bundle.identityKey }],
      ["Bob's signature over Eve's signed pre-key", { ...bob.bundle, signedPreKey: eve.bundle.signedPreKey }],
    ];
    for (const [what, bundle] of mixes) {
      await expect(alice.keys.initiate(bundle), what).rejects.toBeInstanceOf(InvalidBundleError);
    }
  });

  it("a consistent bundle of Eve's, presented as Bob's, is refused wherever Bob's DID is known", async () => {
    const [bob, eve] = [await withKeys(), await withKeys()];
    await expect(checkBundleBelongsTo(bob.did, eve.bundle)).rejects.toBeInstanceOf(InvalidBundleError);
    const alice = await manager();
    await expect(alice.initiate(bob.did, eve.bundle)).rejects.toBeInstanceOf(IdentityMismatchError);
    expect(await alice.hasSession(bob.did)).toBe(false);
  });
});

describe('establishments carrying someone else\'s key', () => {
  it("Eve's establishment under Alice's DID is refused; nothing is stored, no one-time key consumed", async () => {
    const [alice, bob, eve] = [await manager(), await manager(), await withKeys()];
    const [otk] = await bob.preKeys.oneTimePreKeyIds();
    const [eveCh, establishment] = await SecureChannel.createSender(eve.keys, await bob.preKeys.getPublicBundle(otk!), utf8(`${alice.did}|${bob.did}`));
    const first = await eveCh.send(utf8('I am alice'));
    await expect(
      bob.accept(alice.did, encodeEstablishment(establishment), { firstMessage: first, peerIdentityKeyEd: alice.identityPublicKey, associatedData: utf8(`${alice.did}|${bob.did}`) }),
    ).rejects.toBeInstanceOf(IdentityMismatchError);
    // Eve's own key named for Alice's DID: the DID does not derive from it.
    await expect(bob.accept(alice.did, establishment, { firstMessage: first, peerIdentityKeyEd: eve.identity.publicKey })).rejects.toBeInstanceOf(IdentityMismatchError);
    expect(await bob.hasSession(alice.did)).toBe(false);
    expect(await bob.preKeys.oneTimePreKeyIds()).toContain(otk);
  });

  it("Alice's public identity key with an attacker's ephemeral key cannot be completed: nothing stored, nothing consumed", async () => {
    const [alice, bob, eve] = [await manager(), await manager(), await withKeys()];
    const [otk] = await bob.preKeys.oneTimePreKeyIds();
    const [eveCh, real] = await SecureChannel.createSender(eve.keys, await bob.preKeys.getPublicBundle(otk!), utf8('x'));
    const aliceX25519 = getDefaultCryptoProvider().ed25519ToX25519Public(alice.identityPublicKey);
    const forged = { ...real, identityKey: aliceX25519 };
    await expect(
      bob.accept(alice.did, forged, { firstMessage: await eveCh.send(utf8('hi')), peerIdentityKeyEd: alice.identityPublicKey }),
    ).rejects.toBeInstanceOf(AuthenticationError);
    expect(await bob.hasSession(alice.did)).toBe(false);
    expect(await bob.preKeys.oneTimePreKeyIds()).toContain(otk);
  });

  it('the trust bridge refuses an establishment whose identity key is not the one the handshake proved', async () => {
    const { a, b, bob } = await bridgePair();
    const eve = await makeAgent();
    await bob.publishPrekeyBundle();
    const bundle = b.keyManager.getPublicBundle();
    const [, establishment] = await SecureChannel.createSender(eve.keyManager, bundle, utf8(`${a.did}|${b.did}`));
    const error = await bob.acceptSecureChannel(a.did, establishment).then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(TrustError);
    expect((error as TrustError).reason).toBe('did_key_mismatch');
  });
});

describe('handshakes and KNOCKs carrying someone else\'s key', () => {
  it("an answer to Bob's challenge signed with Eve's key (or claiming Bob's key) is refused", async () => {
    const { a, b, network } = await bridgePair();
    const eve = await makeAgent();
    for (const swap of ['eve-key', 'bob-key-eve-signature'] as const) {
      const tapped = new TrustHandshake({
        identity: a.identity,
        agentDid: a.did,
        trustProvider: new StaticTrustProvider({ [b.did]: 900 }),
        transport: tapTransport(network.endpoint(a.did), {
          request: async (f, send) => {
            const answer = (await send(f)) as { type: string; response: Record<string, string> };
            if (answer.type === 'trust_response') {
              const r = answer.response;
              const text = `${r.challenge_id}:${f.challenge.nonce}:${r.response_nonce}:${b.did}`;
              r.signature = toBase64Url(await eve.identity.sign(utf8(text)));
              if (swap === 'eve-key') r.public_key = toBase64Url(eve.identity.publicKey);
            }
            return answer;
          },
        }),
      });
      const error = await tapped.verifyPeer(b.did).then(() => null, (e: unknown) => e);
      expect(error).toBeInstanceOf(TrustError);
      expect((error as TrustError).reason).toBe(swap === 'eve-key' ? 'did_key_mismatch' : 'bad_signature');
    }
  });

  it("a KNOCK carrying Eve's key under Alice's DID is answered with an error, never an acceptance", async () => {
    const { a, b, bob } = await bridgePair();
    const eve = await makeAgent();
    const { KnockExchange } = await import('../src/trust/knock-exchange.js');
    const { defaultKnockPolicy } = await import('../src/trust/knock-policy.js');
    const provider = new StaticTrustProvider({ [a.did]: 900, [b.did]: 900 });
    const eveAsAlice = new KnockExchange({ agentDid: a.did, identity: eve.identity, trustProvider: provider, policy: defaultKnockPolicy({ minTrustScore: 0 }) });
    const forged = await eveAsAlice.createKnock(b.did, { action: 'pay', description: 'x', capabilitiesRequired: [], trustMinimum: 0 });
    const answer = (await bob.handleFrame(forged)) as { type: string; code?: string };
    expect(answer).toMatchObject({ type: 'error', code: 'did_key_mismatch' });
    // Without a key in the frame, the signature is checked under the key Alice's DID names: it fails.
    const { public_key: _dropped, ...keyless } = forged as Record<string, unknown>;
    const again = (await bob.handleFrame(keyless)) as { type: string; code?: string };
    expect(again.type).toBe('error');
  });
});

describe("a DID that is not its key's", () => {
  it('is refused by every layer that meets the pair', async () => {
    const [alice, eve] = [await AgentIdentity.generate(), await AgentIdentity.generate()];
    expect(checkDidKey(alice.did, eve.publicKey)).toBe('mismatch');
    expect(() => new StaticTrustProvider({ [alice.did]: { score: 900, publicKey: eve.publicKey } })).toThrow(TrustConfigError);
    expect(
      () => new TrustHandshake({ identity: eve, agentDid: alice.did, trustProvider: new StaticTrustProvider(), transport: { request: async () => null, listen: () => () => undefined } }),
    ).toThrow(TrustConfigError);
    // A store holding Alice's identity does not open as Eve.
    const store = new MemoryAgentStore();
    (await SessionManager.open({ store, identity: await AgentIdentity.fromSeed(alice.secretKey.subarray(0, 32)) })).close();
    await expect(SessionManager.open({ store, identity: eve })).rejects.toBeInstanceOf(IdentityMismatchError);
  });

  it('non-canonical spellings of a DID do not parse, so one key has one DID', async () => {
    const key = (await AgentIdentity.generate()).publicKey;
    const did = didFromPublicKey(key);
    const id = did.slice('did:agentmesh:'.length);
    for (const variant of [`did:agentmesh:1${id}`, `did:agentmesh:${id}1`, did.toUpperCase(), `did:agentmesh:${id} `, `did:agentmesh:${toBase58(concatBytes(new Uint8Array(1), new Uint8Array(20)))}`]) {
      expect(() => parseDid(variant), variant).toThrow(InvalidDidError);
    }
    expect(parseDid(did).did).toBe(did);
  });
});
