/**
 * The tutorial's sections 1–3, translated to TypeScript (camelCase, `await` where WebCrypto is touched).
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import {
  DoubleRatchet,
  InMemoryPreKeyStore,
  RatchetState,
  SecureChannel,
  X3DHKeyManager,
  fromUtf8,
  toHex,
  utf8,
} from '../src/index.js';

function signingKeyGenerate() {
  const seed = ed25519.utils.randomSecretKey();
  const verifyKey = ed25519.getPublicKey(seed);
  return { seed, verifyKey };
}

describe('tutorial', () => {
  it('sections 1–3: X3DH, pre-key store, Double Ratchet, persistence, SecureChannel', async () => {
    // 1. X3DH key agreement
    const aliceSk = signingKeyGenerate();
    const bobSk = signingKeyGenerate();
    const aliceMgr = await X3DHKeyManager.fromEd25519Keys(new Uint8Array([...aliceSk.seed, ...aliceSk.verifyKey]), aliceSk.verifyKey);
    const bobMgr = await X3DHKeyManager.fromEd25519Keys(new Uint8Array([...bobSk.seed, ...bobSk.verifyKey]), bobSk.verifyKey);

    await bobMgr.generateSignedPreKey();
    await bobMgr.generateOneTimePreKeys(10);
    let bobBundle = bobMgr.getPublicBundle(0);

    const aliceResult = await aliceMgr.initiate(bobBundle);
    expect(toHex(aliceResult.sharedSecret).slice(0, 16)).toMatch(/^[0-9a-f]{16}$/);

    const bobResult = await bobMgr.respond({
      peerIdentityKey: aliceMgr.identityKey.publicKey,
      ephemeralPublicKey: aliceResult.ephemeralPublicKey,
      usedOneTimeKeyId: aliceResult.usedOneTimeKeyId,
    });
    expect(aliceResult.sharedSecret).toEqual(bobResult.sharedSecret);

    // Pre-key management
    const store = new InMemoryPreKeyStore();
    await store.storeBundle('did:mesh:bob', bobBundle);
    const bundle = await store.getBundle('did:mesh:bob');
    expect(bundle).toEqual(bobBundle);

    // 2. Double Ratchet
    const aliceRatchet = await DoubleRatchet.initSender({
      sharedSecret: aliceResult.sharedSecret,
      remoteDhPublic: bobBundle.signedPreKey,
    });
    const bobRatchet = DoubleRatchet.initReceiver({
      sharedSecret: bobResult.sharedSecret,
      dhKeyPair: [bobMgr.signedPreKey!.keyPair.privateKey, bobMgr.signedPreKey!.keyPair.publicKey],
    });

    let enc = await aliceRatchet.encrypt(utf8('hello bob'));
    expect(fromUtf8(await bobRatchet.decrypt(enc))).toBe('hello bob');
    const enc2 = await bobRatchet.encrypt(utf8('hello alice'));
    expect(fromUtf8(await aliceRatchet.decrypt(enc2))).toBe('hello alice');

    // Out-of-order messages
    const enc0 = await aliceRatchet.encrypt(utf8('msg-0'));
    const enc1 = await aliceRatchet.encrypt(utf8('msg-1'));
    const enc2b = await aliceRatchet.encrypt(utf8('msg-2'));
    expect(fromUtf8(await bobRatchet.decrypt(enc2b))).toBe('msg-2');
    expect(fromUtf8(await bobRatchet.decrypt(enc0))).toBe('msg-0');
    expect(fromUtf8(await bobRatchet.decrypt(enc1))).toBe('msg-1');

    // Session persistence
    const saved = aliceRatchet.state.toDict();
    const restored = new DoubleRatchet(RatchetState.fromDict(JSON.parse(JSON.stringify(saved))));
    enc = await restored.encrypt(utf8('after restart'));
    expect(fromUtf8(await bobRatchet.decrypt(enc))).toBe('after restart');

    // 3. SecureChannel (one-time pre-key 0 was consumed above, so a fresh bundle)
    bobBundle = bobMgr.getPublicBundle(1);
    const [aliceCh, establishment] = await SecureChannel.createSender(aliceMgr, bobBundle, utf8('did:mesh:alice|did:mesh:bob'));
    const bobCh = await SecureChannel.createReceiver(bobMgr, establishment, utf8('did:mesh:alice|did:mesh:bob'));

    enc = await aliceCh.send(utf8('governed action request'));
    expect(fromUtf8(await bobCh.receive(enc))).toBe('governed action request');
    enc = await bobCh.send(utf8('action approved'));
    expect(fromUtf8(await aliceCh.receive(enc))).toBe('action approved');
    expect(aliceCh.messageCount).toBe(2);
    expect(bobCh.messageCount).toBe(2);

    await aliceCh.close();
    await bobCh.close();
    expect(aliceCh.isClosed && bobCh.isClosed).toBe(true);
  });
});
