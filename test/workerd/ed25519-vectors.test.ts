// The Ed25519 edge-case sets (test/vectors-ed25519/) inside workerd, whose WebCrypto (BoringSSL)
// accepts small-order keys on its own: every preset must give the strict rule's verdict here too.
import { describe, expect, it } from 'vitest';
import { createCryptoProvider, getDefaultCryptoProvider, webCryptoCurvesSupported } from '../../src/crypto/index.js';
import { CCTV_CASES, disagreements, RFC8032_TEST_1, SPECCHECK_CASES } from '../helpers/ed25519-vectors.js';

describe('Ed25519 edge cases in workerd', () => {
  it('the runtime has native Ed25519, so the webcrypto backend is the one under test', async () => {
    expect(await webCryptoCurvesSupported()).toBe(true);
  });

  const providers = {
    default: () => getDefaultCryptoProvider(),
    webcrypto: () => createCryptoProvider('webcrypto'),
    fast: () => createCryptoProvider('fast'),
    noble: () => createCryptoProvider('noble'),
  };
  for (const [name, make] of Object.entries(providers)) {
    it(`${name}: the rule's verdict on every CCTV and speccheck case, and RFC 8032 test 1 accepted`, async () => {
      const crypto = make();
      expect(await disagreements(crypto, CCTV_CASES)).toEqual([]);
      expect(await disagreements(crypto, SPECCHECK_CASES)).toEqual([]);
      expect(await disagreements(crypto, [RFC8032_TEST_1])).toEqual([]);
    });
  }
});
