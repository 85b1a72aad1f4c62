import { describe, expect, it } from 'vitest';
import { decodeBundle, encodeBundle, type PreKeyBundle } from '../src/x3dh/bundle.js';
import { X3DHKeyManager } from '../src/x3dh/key-manager.js';
import { InMemoryPreKeyStore } from '../src/x3dh/prekey-store.js';
import { createCryptoProvider } from '../src/crypto/index.js';
import { base64 } from '@scure/base';
import { fromBase64Any, toBase64Url, toHex } from '../src/encoding.js';
import { InvalidBundleError, InvalidKeyError, PreKeyNotFoundError } from '../src/errors.js';
import { hex, PRESETS, replayProvider, vectors } from './helpers/vectors.js';

type VecBundle = (typeof vectors.x3dh.cases)[number]['bundle'];

function toBundle(b: VecBundle): PreKeyBundle {
  return {
    identityKey: hex(b.identity_key),
    identityKeyEd: hex(b.identity_key_ed),
    signedPreKey: hex(b.signed_pre_key),
    signedPreKeySignature: hex(b.signed_pre_key_signature),
    signedPreKeyId: b.signed_pre_key_id,
    oneTimePreKey: b.one_time_pre_key ? hex(b.one_time_pre_key) : null,
    oneTimePreKeyId: b.one_time_pre_key_id ?? null,
  };
}

async function manager(seedHex: string, crypto = createCryptoProvider()) {
  const pub = await crypto.ed25519PublicKey(hex(seedHex));
  return X3DHKeyManager.fromEd25519Keys(new Uint8Array([...hex(seedHex), ...pub]), pub, { crypto });
}

describe.each(PRESETS)('X3DH vectors (%s)', (preset) => {
  for (const c of vectors.x3dh.cases) {
    it(`${c.name}: bundle, DH outputs, shared secret and AD byte for byte, both sides`, async () => {
      const bobCrypto = replayProvider(preset, c.rng.responder.seed);
      const bob = await manager(c.inputs.responder_ed25519_seed, bobCrypto);
      const spk = await bob.generateSignedPreKey();
      expect(toHex(spk.keyPair.privateKey)).toBe(c.inputs.responder_signed_pre_key.private);
      expect(spk.keyId).toBe(c.inputs.responder_signed_pre_key.key_id);
      await bob.generateOneTimePreKeys(c.inputs.responder_one_time_pre_keys_generated.length);
      expect(bobCrypto.draws()).toBe(c.rng.responder.draws.length);
      const bundle = bob.getPublicBundle(c.inputs.responder_one_time_pre_key?.key_id);
      expect(bundle).toEqual(toBundle(c.bundle));

      const aliceCrypto = replayProvider(preset, c.rng.initiator.seed);
      const alice = await manager(c.inputs.initiator_ed25519_seed, aliceCrypto);
      const result = await alice.initiate(bundle);
      expect(toHex(result.ephemeralPublicKey)).toBe(c.initiator_ephemeral_public);
      expect(toHex(result.sharedSecret)).toBe(c.shared_secret);
      expect(toHex(result.associatedData)).toBe(c.associated_data);
      expect(result.usedOneTimeKeyId).toBe(c.used_one_time_key_id);

      const response = await bob.respond({
        peerIdentityKey: alice.identityKey.publicKey,
        ephemeralPublicKey: result.ephemeralPublicKey,
        usedOneTimeKeyId: result.usedOneTimeKeyId,
      });
      expect(toHex(response.sharedSecret)).toBe(c.shared_secret);
      expect(toHex(response.associatedData)).toBe(c.associated_data);
      // The DH outputs themselves, recomputed through the provider.
      const ek = hex(c.inputs.initiator_ephemeral_private);
      expect(toHex(await aliceCrypto.x25519(alice.identityKey.privateKey, bundle.signedPreKey))).toBe(c.dh1);
      expect(toHex(await aliceCrypto.x25519(ek, bundle.identityKey))).toBe(c.dh2);
      expect(toHex(await aliceCrypto.x25519(ek, bundle.signedPreKey))).toBe(c.dh3);
      if (c.dh4) expect(toHex(await aliceCrypto.x25519(ek, bundle.oneTimePreKey!))).toBe(c.dh4);
      const hk = c.hkdf;
      expect(toHex(await aliceCrypto.hkdfSha256(hex(hk.ikm), hex(hk.salt), hex(hk.info), hk.length))).toBe(c.shared_secret);
    });
  }

  for (const r of vectors.x3dh.rejections) {
    it(`refuses ${r.name} before drawing randomness`, async () => {
      const crypto = replayProvider(preset, '00');
      const alice = await manager(r.initiator_ed25519_seed, crypto);
      await expect(alice.initiate(toBundle(r.bundle))).rejects.toThrow(InvalidBundleError);
      expect(crypto.draws()).toBe(r.randomness_drawn_before_failure);
    });
  }

  it('refuses a bundle whose identity_key is not the X25519 form of identity_key_ed (the reference accepts it)', async () => {
    const n = vectors.negative.x3dh_cases.find((x) => x.name === 'mismatched_bundle_identity_key')!;
    const crypto = replayProvider(preset, n.rng!.seed);
    const alice = await manager(n.initiator_ed25519_seed!, crypto);
    await expect(alice.initiate(toBundle(n.bundle as VecBundle))).rejects.toThrow(/X25519 form/);
    expect(crypto.draws()).toBe(0);
  });
});

describe('X3DH responder', () => {
  const base = vectors.negative.base;

  async function bobWithOtk() {
    const bob = await manager(base.x3dh.responder_ed25519_seed);
    await bob.generateSignedPreKey();
    await bob.generateOneTimePreKeys(3);
    return bob;
  }

  it('consumes a one-time pre-key once; a second use or an unknown id is refused', async () => {
    const bob = await bobWithOtk();
    const alice = await manager(base.x3dh.initiator_ed25519_seed);
    const r = await alice.initiate(bob.getPublicBundle(0));
    const params = { peerIdentityKey: alice.identityKey.publicKey, ephemeralPublicKey: r.ephemeralPublicKey, usedOneTimeKeyId: 0 };
    expect((await bob.respond(params)).sharedSecret).toEqual(r.sharedSecret);
    expect(bob.oneTimePreKeyIds).toEqual([1, 2]);
    await expect(bob.respond(params)).rejects.toThrow(PreKeyNotFoundError);
    await expect(bob.respond({ ...params, usedOneTimeKeyId: 99 })).rejects.toThrow(PreKeyNotFoundError);
    expect(() => bob.getPublicBundle(0)).toThrow(PreKeyNotFoundError);
  });

  it('refuses the vectors\' reused one-time pre-key and all-zero ephemeral key, consuming nothing on a bad key', async () => {
    const bob = await bobWithOtk();
    const [reused, lowOrder] = vectors.negative.x3dh_cases;
    const e = lowOrder!.establishment!;
    await expect(
      bob.respond({ peerIdentityKey: hex(e.initiator_identity_key), ephemeralPublicKey: hex(e.ephemeral_public_key), usedOneTimeKeyId: 1 }),
    ).rejects.toThrow(InvalidKeyError);
    expect(bob.oneTimePreKeyIds).toEqual([0, 1, 2]);
    const u = reused!.establishment!;
    const ok = { peerIdentityKey: hex(u.initiator_identity_key), ephemeralPublicKey: hex(u.ephemeral_public_key), usedOneTimeKeyId: 0 };
    await bob.respond(ok);
    await expect(bob.respond(ok)).rejects.toThrow(/not found or already consumed/);
  });

  it('two concurrent establishments on one one-time pre-key: exactly one succeeds', async () => {
    const bob = await bobWithOtk();
    const alice = await manager(base.x3dh.initiator_ed25519_seed);
    const r = await alice.initiate(bob.getPublicBundle(2));
    const params = { peerIdentityKey: alice.identityKey.publicKey, ephemeralPublicKey: r.ephemeralPublicKey, usedOneTimeKeyId: 2 };
    const results = await Promise.allSettled([bob.respond(params), bob.respond(params)]);
    expect(results.filter((x) => x.status === 'fulfilled')).toHaveLength(1);
  });

  it('keeps a rotated signed pre-key for the retention window, then forgets it', async () => {
    let now = 1_000_000;
    const crypto = createCryptoProvider();
    const seed = hex(base.x3dh.responder_ed25519_seed);
    const pub = await crypto.ed25519PublicKey(seed);
    const bob = await X3DHKeyManager.fromEd25519Keys(new Uint8Array([...seed, ...pub]), pub, {
      crypto,
      signedPreKeyRetentionMs: 1000,
      now: () => now,
    });
    await bob.generateSignedPreKey();
    const oldBundle = bob.getPublicBundle();
    const alice = await manager(base.x3dh.initiator_ed25519_seed);
    const r = await alice.initiate(oldBundle);
    await bob.generateSignedPreKey();
    expect(bob.retainedSignedPreKeys.map((k) => k.keyId)).toEqual([0]);
    const params = { peerIdentityKey: alice.identityKey.publicKey, ephemeralPublicKey: r.ephemeralPublicKey };
    // Named: exactly that key. Unnamed: current first, the retained one as an alternative.
    expect((await bob.respond({ ...params, signedPreKeyId: 0 })).sharedSecret).toEqual(r.sharedSecret);
    const unnamed = await bob.respond(params);
    expect(unnamed.sharedSecret).not.toEqual(r.sharedSecret);
    expect(unnamed.alternatives.map((a) => a.sharedSecret)).toContainEqual(r.sharedSecret);
    now += 1001;
    expect(bob.retainedSignedPreKeys).toEqual([]);
    await expect(bob.respond({ ...params, signedPreKeyId: 0 })).rejects.toThrow(PreKeyNotFoundError);
  });

  it('has no bundle before a signed pre-key exists: PreKeyNotFoundError, as for a stored agent', async () => {
    const bob = await manager(base.x3dh.responder_ed25519_seed);
    expect(() => bob.getPublicBundle()).toThrow(PreKeyNotFoundError);
  });

  it('refuses a 64-byte secret whose public half is someone else\'s', async () => {
    const crypto = createCryptoProvider();
    const a = hex(base.x3dh.initiator_ed25519_seed);
    const bPub = await crypto.ed25519PublicKey(hex(base.x3dh.responder_ed25519_seed));
    await expect(X3DHKeyManager.fromEd25519Keys(new Uint8Array([...a, ...bPub]), bPub)).rejects.toThrow(InvalidKeyError);
  });
});

describe('bundle JSON codec', () => {
  const bundle = toBundle(vectors.x3dh.cases[0]!.bundle);

  it('round-trips the registry form with base64url', () => {
    const json = encodeBundle(bundle);
    expect(json.signed_pre_key.public_key).toBe(toBase64Url(bundle.signedPreKey));
    expect(json.identity_key).not.toMatch(/[=+/]/);
    expect(decodeBundle(json)).toEqual(bundle);
    expect(decodeBundle(JSON.stringify(json))).toEqual(bundle);
    expect(decodeBundle({ ...json, one_time_pre_key: null }).oneTimePreKey).toBeNull();
  });

  it('accepts standard and padded base64', () => {
    const json = encodeBundle(bundle);
    const std = (s: string) => base64.encode(fromBase64Any(s));
    const padded = { ...json, identity_key: std(json.identity_key), signed_pre_key: { ...json.signed_pre_key, signature: std(json.signed_pre_key.signature) } };
    expect(padded.identity_key).toMatch(/=$/);
    expect(decodeBundle(padded)).toEqual(bundle);
  });

  it('rejects wrong lengths, missing fields and junk with InvalidBundleError', () => {
    const json = encodeBundle(bundle);
    const cases: unknown[] = [
      null,
      '{',
      '[]',
      { ...json, identity_key: toBase64Url(new Uint8Array(31)) },
      { ...json, identity_key_ed: undefined },
      { ...json, signed_pre_key: { ...json.signed_pre_key, signature: toBase64Url(new Uint8Array(63)) } },
      { ...json, signed_pre_key: { ...json.signed_pre_key, key_id: -1 } },
      { ...json, signed_pre_key: { ...json.signed_pre_key, key_id: 1.5 } },
      { ...json, signed_pre_key: 'x' },
      { ...json, one_time_pre_key: undefined },
      { ...json, one_time_pre_key: { key_id: 1 } },
      { ...json, identity_key: '!!!' },
      { ...json, identity_key: 'A'.repeat(100_000) },
    ];
    for (const c of cases) expect(() => decodeBundle(c)).toThrow(InvalidBundleError);
  });
});

describe('InMemoryPreKeyStore', () => {
  it('hands a one-time pre-key out once, then the bundle without it', async () => {
    const bundle = toBundle(vectors.x3dh.cases[0]!.bundle);
    const store = new InMemoryPreKeyStore();
    await store.storeBundle('did:mesh:bob', bundle);
    expect((await store.getBundle('did:mesh:bob'))!.oneTimePreKeyId).toBe(2);
    const second = (await store.getBundle('did:mesh:bob'))!;
    expect(second.oneTimePreKey).toBeNull();
    expect(second.signedPreKey).toEqual(bundle.signedPreKey);
    expect(await store.getBundle('did:mesh:nobody')).toBeNull();
  });
});
