import { ed25519 } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import { assertEd25519PublicKey, createCryptoProvider, isValidEd25519PublicKey } from '../src/crypto/index.js';
import { concatBytes, fromHex, toBase64Url, utf8 } from '../src/encoding.js';
import { InvalidBundleError, InvalidKeyError } from '../src/errors.js';
import { AgentIdentity } from '../src/identity/agent-identity.js';
import { checkDidKey, didFromPublicKey } from '../src/identity/did.js';
import { checkBundleBelongsTo } from '../src/net/registry-client.js';
import { StaticTrustProvider, TrustConfigError } from '../src/trust/index.js';
import { verifyBundleKeys, type PreKeyBundle } from '../src/x3dh/bundle.js';
import { X3DHKeyManager } from '../src/x3dh/key-manager.js';
import { CCTV_CASES, disagreements, RFC8032_TEST_1, SPECCHECK_CASES } from './helpers/ed25519-vectors.js';
import { PRESETS } from './helpers/vectors.js';

/** The identity point: the "key" of a DID nobody holds. R = identity, S = 0 verifies under it on lax backends. */
const IDENTITY = fromHex('01' + '00'.repeat(31));
const UNIVERSAL_SIGNATURE = concatBytes(IDENTITY, new Uint8Array(32));

/** Every encoding of a small-order point (C2SP CCTV ed25519/README.md, "Low-order edwards25519 point encodings"). */
const SMALL_ORDER_ENCODINGS = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  '0000000000000000000000000000000000000000000000000000000000000080',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
  '0100000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000080',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
].map(fromHex);

const { Point } = ed25519;
/** A point of order 8 (CCTV's list), to shift honest keys and signatures off the prime-order subgroup. */
const TORSION = Point.fromBytes(fromHex('26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05'));

describe('Ed25519 edge cases: one strict rule on every backend', () => {
  it('the fixtures hold the whole C2SP CCTV set and the twelve speccheck cases', () => {
    expect(CCTV_CASES.map((c) => c.id)).toEqual(CCTV_CASES.map((_, i) => `cctv #${i}`));
    expect(CCTV_CASES.length).toBe(914);
    expect(CCTV_CASES.filter((c) => c.accept).map((c) => c.id)).toEqual(['cctv #305']);
    expect(SPECCHECK_CASES.length).toBe(12);
  });

  for (const preset of PRESETS) {
    it(`${preset}: gives the rule's verdict on every CCTV and speccheck case, and accepts RFC 8032 test 1`, async () => {
      const crypto = createCryptoProvider(preset);
      expect(await disagreements(crypto, CCTV_CASES)).toEqual([]);
      expect(await disagreements(crypto, SPECCHECK_CASES)).toEqual([]);
      expect(await disagreements(crypto, [RFC8032_TEST_1])).toEqual([]);
    });

    it(`${preset}: accepts honest signatures and refuses them torsion-shifted, with S + L, or under a shifted key`, async () => {
      const crypto = createCryptoProvider(preset);
      for (let i = 0; i < 4; i++) {
        const seed = new Uint8Array(32).fill(i + 1);
        const publicKey = ed25519.getPublicKey(seed);
        const message = utf8(`message ${i}`);
        const signature = ed25519.sign(message, seed);
        expect(await crypto.ed25519Verify(publicKey, message, signature)).toBe(true);
        const r = Point.fromBytes(signature.subarray(0, 32));
        const shiftedR = concatBytes(r.add(TORSION).toBytes(), signature.subarray(32));
        expect(await crypto.ed25519Verify(publicKey, message, shiftedR)).toBe(false);
        const s = ed25519.Point.Fn.fromBytes(signature.subarray(32));
        const sPlusL = new Uint8Array(32);
        let v = s + ed25519.Point.Fn.ORDER;
        for (let b = 0; b < 32; b++, v >>= 8n) sPlusL[b] = Number(v & 0xffn);
        expect(await crypto.ed25519Verify(publicKey, message, concatBytes(signature.subarray(0, 32), sPlusL))).toBe(false);
        const shiftedKey = Point.fromBytes(publicKey).add(TORSION).toBytes();
        expect(await crypto.ed25519Verify(shiftedKey, message, signature)).toBe(false);
      }
    });

    it(`${preset}: refuses the universal signature under every small-order key`, async () => {
      const crypto = createCryptoProvider(preset);
      for (const key of SMALL_ORDER_ENCODINGS) {
        expect(await crypto.ed25519Verify(key, utf8('anything'), UNIVERSAL_SIGNATURE)).toBe(false);
        expect(await AgentIdentity.verify(key, utf8('anything'), UNIVERSAL_SIGNATURE, { crypto })).toBe(false);
      }
    });
  }

  it('assertEd25519PublicKey refuses small-order, mixed-order and non-canonical keys with InvalidKeyError and the reason', async () => {
    for (const key of SMALL_ORDER_ENCODINGS) {
      expect(isValidEd25519PublicKey(key)).toBe(false);
      expect(() => assertEd25519PublicKey(key)).toThrow(InvalidKeyError);
    }
    expect(() => assertEd25519PublicKey(IDENTITY, 'peer key')).toThrow(/^peer key has small order/);
    const honest = (await AgentIdentity.generate()).publicKey;
    const mixed = Point.fromBytes(honest).add(TORSION).toBytes();
    expect(() => assertEd25519PublicKey(mixed)).toThrow(/small-order component/);
    expect(() => assertEd25519PublicKey(fromHex('ed' + 'ff'.repeat(30) + '7f'))).toThrow(InvalidKeyError);
    expect(() => assertEd25519PublicKey(new Uint8Array(31))).toThrow(/32 bytes/);
    expect(() => assertEd25519PublicKey(honest)).not.toThrow();
    expect(isValidEd25519PublicKey(honest)).toBe(true);
  });

  it('checkDidKey refuses a DID whose key has small order: such a DID names no one who can sign', () => {
    const keyless = didFromPublicKey(IDENTITY);
    expect(() => checkDidKey(keyless, IDENTITY)).toThrow(InvalidKeyError);
    expect(() => checkDidKey('did:mesh:' + '1'.repeat(32), IDENTITY)).toThrow(InvalidKeyError);
    expect(() => new StaticTrustProvider({ [keyless]: { score: 900, publicKey: IDENTITY } })).toThrow(TrustConfigError);
  });

  it('a bundle whose identity key has small order is refused before its signature is checked', async () => {
    const owner = await AgentIdentity.generate();
    const keys = await X3DHKeyManager.fromEd25519Keys(owner.secretKey, owner.publicKey);
    await keys.generateSignedPreKey();
    const honest = keys.getPublicBundle();
    // The universal signature "signs" any pre-key under the identity point; its X25519 form is what
    // a lax verifier would derive.
    const forged: PreKeyBundle = { ...honest, identityKeyEd: IDENTITY, signedPreKeySignature: UNIVERSAL_SIGNATURE, identityKey: fromHex('00'.repeat(32)) };
    for (const preset of PRESETS) {
      const crypto = createCryptoProvider(preset);
      const error = await verifyBundleKeys(forged, crypto).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidBundleError);
      expect((error as Error).message).toMatch(/identity_key_ed has small order/);
      expect((error as Error).cause).toBeInstanceOf(InvalidKeyError);
      await expect(checkBundleBelongsTo(didFromPublicKey(IDENTITY), forged, crypto)).rejects.toThrow(InvalidBundleError);
    }
    await expect(verifyBundleKeys(honest, createCryptoProvider('noble'))).resolves.toBeUndefined();
    expect(toBase64Url(honest.identityKeyEd)).toBe(toBase64Url(owner.publicKey));
  });
});
