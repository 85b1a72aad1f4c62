import { describe, expect, it, vi } from 'vitest';
import { encodeEstablishment } from '../src/channel/establishment.js';
import { SecureChannel } from '../src/channel/secure-channel.js';
import { fromUtf8, utf8 } from '../src/encoding.js';
import { ChannelClosedError, InvalidBundleError, InvalidEstablishmentError } from '../src/errors.js';
import { EncryptedTrustBridge } from '../src/bridge/index.js';
import { InMemoryTrustNetwork, StaticTrustProvider, TrustConfigError, TrustError } from '../src/trust/index.js';
import { bridgePair, makeAgent } from './helpers/trust-agents.js';

async function rejects(promise: Promise<unknown>): Promise<TrustError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TrustError);
  return error as TrustError;
}

describe('EncryptedTrustBridge: a peer below the threshold never reaches X3DH', () => {
  it('opening side: refused before keyManager.initiate', async () => {
    const { a, b, alice, bob } = await bridgePair({ bobScore: 600 });
    const initiate = vi.spyOn(a.keyManager, 'initiate');
    const error = await rejects(alice.openSecureChannel(b.did, await bob.publishPrekeyBundle()));
    expect(error.reason).toBe('insufficient_trust');
    expect(error.peerDid).toBe(b.did);
    expect(initiate).not.toHaveBeenCalled();
    expect(alice.getSession(b.did)).toBeUndefined();
  });

  it('accepting side: refused before keyManager.respond, and no one-time pre-key is spent', async () => {
    // Alice trusts Bob (her bar is 500); Bob's bar is 700 and Alice scores 600.
    const { a, b, alice, bob } = await bridgePair({ aliceScore: 600, aliceMin: 500 });
    const bundle = await bob.publishPrekeyBundle();
    const initiate = vi.spyOn(a.keyManager, 'initiate');
    // Through her bridge, Bob's half of the mutual handshake refuses her.
    const refused = await rejects(alice.openSecureChannel(b.did, bundle));
    expect(refused.reason).toBe('peer_refused');
    expect(refused.peerReason).toBe('insufficient_trust');
    expect(initiate).not.toHaveBeenCalled();
    initiate.mockRestore();

    // Past her bridge, straight to X3DH: Bob's accept still runs its own check first.
    const [, establishment] = await SecureChannel.createSender(a.keyManager, bundle, utf8(`${a.did}|${b.did}`));
    const respond = vi.spyOn(b.keyManager, 'respond');
    const error = await rejects(bob.acceptSecureChannel(a.did, establishment));
    expect(error.reason).toBe('insufficient_trust');
    expect(respond).not.toHaveBeenCalled();
    expect(b.keyManager.oneTimePreKeyIds).toContain(bundle.oneTimePreKeyId);
    expect(bob.getSession(a.did)).toBeUndefined();
  });

  it('accepting side: a peer that cannot be reached is refused before keyManager.respond', async () => {
    const { a, b, alice, bob } = await bridgePair();
    const bundle = await bob.publishPrekeyBundle();
    const [, establishment] = await SecureChannel.createSender(a.keyManager, bundle, utf8(`${a.did}|${b.did}`));
    await alice.shutdown(); // stops answering handshakes
    const respond = vi.spyOn(b.keyManager, 'respond');
    expect((await rejects(bob.acceptSecureChannel(a.did, establishment))).reason).toBe('transport');
    expect(respond).not.toHaveBeenCalled();
  });

  it('a per-call threshold can only raise the bar', async () => {
    const { b, alice, bob } = await bridgePair({ bobScore: 850 });
    const bundle = await bob.publishPrekeyBundle();
    expect((await rejects(alice.openSecureChannel(b.did, bundle, { minTrustScore: 900 }))).reason).toBe('insufficient_trust');

    const low = await bridgePair({ bobScore: 600 });
    const lowBundle = await low.bob.publishPrekeyBundle();
    expect((await rejects(low.alice.openSecureChannel(low.b.did, lowBundle, { minTrustScore: 100 }))).reason).toBe('insufficient_trust');
  });
});

describe('EncryptedTrustBridge: identity binding', () => {
  it('refuses a bundle signed by a key other than the peer DID’s, before X3DH', async () => {
    const { a, b, alice } = await bridgePair();
    const mallory = await makeAgent();
    await mallory.keyManager.generateSignedPreKey();
    const forged = mallory.keyManager.getPublicBundle(); // self-consistent, but Mallory's key
    const initiate = vi.spyOn(a.keyManager, 'initiate');
    const error = await rejects(alice.openSecureChannel(b.did, forged));
    expect(error.reason).toBe('did_key_mismatch');
    expect(initiate).not.toHaveBeenCalled();
    expect(alice.getSession(b.did)).toBeUndefined();
  });

  it("refuses a bundle carrying the peer's identity key with a signed pre-key someone else signed", async () => {
    const { b, alice, bob } = await bridgePair();
    const genuine = await bob.publishPrekeyBundle();
    const mallory = await makeAgent();
    await mallory.keyManager.generateSignedPreKey();
    const theirs = mallory.keyManager.getPublicBundle();
    const spliced = { ...genuine, signedPreKey: theirs.signedPreKey, signedPreKeySignature: theirs.signedPreKeySignature };
    await expect(alice.openSecureChannel(b.did, spliced)).rejects.toBeInstanceOf(InvalidBundleError);
    expect(alice.getSession(b.did)).toBeUndefined();
  });

  it("refuses an establishment whose identity key is not the X25519 form of the key the peer proved", async () => {
    const { a, b, bob } = await bridgePair();
    const bundle = await bob.publishPrekeyBundle();
    const mallory = await makeAgent();
    // Mallory runs X3DH with her own key and presents it under Alice's DID; Alice herself answers the handshake.
    const [, establishment] = await SecureChannel.createSender(mallory.keyManager, bundle, utf8(`${a.did}|${b.did}`));
    const respond = vi.spyOn(b.keyManager, 'respond');
    const error = await rejects(bob.acceptSecureChannel(a.did, establishment));
    expect(error.reason).toBe('did_key_mismatch');
    expect(respond).not.toHaveBeenCalled();
  });

  it('uses the reference associated data "<initiator DID>|<responder DID>"', async () => {
    const { a, b, alice, bob } = await bridgePair();
    const channel = await alice.openSecureChannel(b.did, await bob.publishPrekeyBundle());
    // A plain SecureChannel, as a reference agent would build it, reads the bridge's messages.
    const plain = await SecureChannel.createReceiver(b.keyManager, alice.getSession(b.did)!.establishment!, utf8(`${a.did}|${b.did}`));
    expect(fromUtf8(await plain.receive(await channel.send(utf8('interop'))))).toBe('interop');
    await plain.close();
  });

  it('accepts the establishment in its JSON form', async () => {
    const { a, b, alice, bob } = await bridgePair();
    const channel = await alice.openSecureChannel(b.did, await bob.publishPrekeyBundle());
    const json = JSON.stringify(encodeEstablishment(alice.getSession(b.did)!.establishment!));
    const bobChannel = await bob.acceptSecureChannel(a.did, json);
    expect(fromUtf8(await bobChannel.receive(await channel.send(utf8('json'))))).toBe('json');
    expect(bob.getSession(a.did)!.role).toBe('responder');
    expect(bob.getSession(a.did)!.establishment).toBeNull();
  });
});

describe('EncryptedTrustBridge: sessions', () => {
  it('closing a session zeroes its channel and forgets it; a new open replaces and closes the old one', async () => {
    const { b, alice, bob } = await bridgePair();
    const close = vi.spyOn(SecureChannel.prototype, 'close');
    const first = await alice.openSecureChannel(b.did, await bob.publishPrekeyBundle());
    const second = await alice.openSecureChannel(b.did, await bob.publishPrekeyBundle());
    expect(first.isClosed).toBe(true);
    expect(close).toHaveBeenCalledTimes(1);
    expect(alice.getSession(b.did)!.channel).toBe(second);
    expect(await alice.closeSession(b.did)).toBe(true);
    expect(await alice.closeSession(b.did)).toBe(false);
    expect(close).toHaveBeenCalledTimes(2);
    await expect(second.send(utf8('x'))).rejects.toBeInstanceOf(ChannelClosedError);
    expect(() => second.snapshot()).toThrow(ChannelClosedError);
    close.mockRestore();
  });

  it('publishes a bundle without a one-time pre-key on request, and into a pre-key store', async () => {
    const stored: unknown[] = [];
    const { b, bob } = await bridgePair({ bob: { prekeyStore: { storeBundle: async (did, bundle) => void stored.push([did, bundle]), getBundle: async () => null } } });
    const bundle = await bob.publishPrekeyBundle({ includeOneTimePreKey: false });
    expect(bundle.oneTimePreKey).toBeNull();
    expect(stored).toEqual([[b.did, bundle]]);
  });
});

describe('EncryptedTrustBridge: bad input gets typed errors', () => {
  it('refuses malformed DIDs, bundles and establishments before any network or X3DH work', async () => {
    const { a, b, alice, bob } = await bridgePair();
    const bundle = await bob.publishPrekeyBundle();
    expect((await rejects(alice.openSecureChannel('did:mesh:alice', bundle))).reason).toBe('invalid_did');
    expect((await rejects(alice.openSecureChannel(a.did, bundle))).reason).toBe('invalid_did');
    await expect(alice.openSecureChannel(b.did, { ...bundle, signedPreKey: new Uint8Array(3) })).rejects.toBeInstanceOf(InvalidBundleError);
    await expect(alice.openSecureChannel(b.did, null as never)).rejects.toBeInstanceOf(InvalidBundleError);
    await expect(bob.acceptSecureChannel(a.did, '{"identity_key": 5}')).rejects.toBeInstanceOf(InvalidEstablishmentError);
    await expect(bob.acceptSecureChannel(a.did, 'x'.repeat(40_000_000))).rejects.toBeInstanceOf(InvalidEstablishmentError);
    await expect(
      bob.acceptSecureChannel(a.did, { identityKey: new Uint8Array(32), ephemeralKey: new Uint8Array(31), usedOneTimeKeyId: null }),
    ).rejects.toBeInstanceOf(InvalidEstablishmentError);
    expect(alice.handshake.cache.size).toBe(0);
  });

  it('answers frames it does not handle with error frames, never an exception', async () => {
    const { a, b, bob } = await bridgePair();
    const base = { v: 1, from: a.did, to: b.did, id: crypto.randomUUID(), ts: new Date().toISOString() };
    expect(await bob.handleFrame({ ...base, type: 'message' })).toMatchObject({ type: 'error', code: 'unsupported', to: a.did });
    expect(await bob.handleFrame(null)).toMatchObject({ type: 'error', code: 'malformed', to: b.did });
    expect(await bob.handleFrame({ ...base, type: 'knock' })).toMatchObject({ type: 'error', code: 'malformed' });
  });

  it('refuses options that cannot work', async () => {
    const a = await makeAgent();
    const other = await makeAgent();
    const base = {
      agentDid: a.did,
      keyManager: a.keyManager,
      identity: a.identity,
      trustProvider: new StaticTrustProvider(),
      transport: new InMemoryTrustNetwork().endpoint(a.did),
    };
    expect(() => new EncryptedTrustBridge({ ...base, identity: other.identity })).toThrow(TrustConfigError);
    expect(() => new EncryptedTrustBridge({ ...base, agentDid: other.did })).toThrow(TrustConfigError);
    expect(() => new EncryptedTrustBridge({ ...base, agentDid: 'did:mesh:alice' })).toThrow(TrustConfigError);
    expect(() => new EncryptedTrustBridge({ ...base, minTrustScore: 1001 })).toThrow(TrustConfigError);
    expect(() => new EncryptedTrustBridge({ ...base, identity: undefined as never })).toThrow(TrustConfigError);
    // agentDid defaults to the identity's DID.
    expect(new EncryptedTrustBridge({ ...base, agentDid: undefined }).agentDid).toBe(a.did);
  });
});
