/**
 * The Double Ratchet and the session layer under attack (a short run of `npm run fuzz`'s ratchet
 * part; see fuzz/ratchet.ts for what each schedule does and checks), and the regression the
 * fuzzer found: a forged message must not draw randomness.
 *
 * FUZZ_SEED=<n> runs another seed; FUZZ_RATCHET_STEPS=<n> a longer run.
 */
import { describe, expect, it } from 'vitest';
import { createCryptoProvider } from '../src/crypto/index.js';
import { concatBytes, toHex, utf8 } from '../src/encoding.js';
import { AuthenticationError, InvalidMessageError, NoReceivingChainError } from '../src/errors.js';
import { DoubleRatchet } from '../src/ratchet/double-ratchet.js';
import { EncryptedMessage } from '../src/wire/encrypted-message.js';
import { LIMITS, NONCE_LENGTH, TAG_LENGTH } from '../src/wire/limits.js';
import { runRatchetFuzz } from '../fuzz/ratchet.js';
import { Rng } from '../fuzz/rng.js';

const env = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env ?? {};
const SEED = Number.parseInt(env.FUZZ_SEED ?? '', 10) || 20261127;
const STEPS = Number.parseInt(env.FUZZ_RATCHET_STEPS ?? '', 10) || 1600;

describe('ratchet under attack, against a shadow that sees only the genuine messages', () => {
  it(`random schedules (seed ${SEED}, ${STEPS} steps): genuine messages decrypt exactly once, nothing else does, and state equals the shadow's`, async () => {
    const result = await runRatchetFuzz({ seed: SEED, steps: STEPS, conversationSteps: 200 });
    expect(result.failures, JSON.stringify(result.failures, null, 2)).toEqual([]);
    // The schedules exercised what they are meant to.
    const c = result.counts;
    for (const kind of ['flip', 'replay', 'counter', 'ratchet-key', 'low-order', 'long-skip', 'no-receiving-chain', 'cached-slot', 'wrong-ad', 'garbage', 'reflect']) {
      expect(c[`bad: ${kind}`] ?? 0, `bad inputs of kind ${kind}`).toBeGreaterThan(0);
    }
    expect(c['genuine delivered'] ?? 0).toBeGreaterThan(STEPS / 10);
    expect((c['bad: establishment-forged'] ?? 0) + (c['bad: establishment-replay'] ?? 0)).toBeGreaterThan(0);
  }, 180_000);
});

describe('a forged message draws no randomness (regression)', () => {
  it('a forgery that starts a DH ratchet step fails and leaves the random stream where it was', async () => {
    // Before the fix the receiver drew its next ratchet key pair before the AEAD check: a forged
    // header with a new ratchet key moved the random stream, so the next genuine DH step produced
    // other keys than a run without the forgery would have.
    const setup = new Rng(1);
    const shared = setup.bytes(32);
    const noble = createCryptoProvider({ curves: 'noble', hashes: 'noble', random: (n) => setup.bytes(n) });
    const bobPair = await noble.x25519GenerateKeyPair();
    let draws = 0;
    const bobRng = new Rng(2);
    const bobCrypto = createCryptoProvider({ curves: 'noble', hashes: 'noble', random: (n) => (draws++, bobRng.bytes(n)) });
    const alice = await DoubleRatchet.initSender({ sharedSecret: shared, remoteDhPublic: bobPair.publicKey }, { crypto: noble });
    const bob = DoubleRatchet.initReceiver({ sharedSecret: shared, dhKeyPair: bobPair }, { crypto: bobCrypto });
    const genuine = await alice.encrypt(utf8('hello'));
    const fresh = await noble.x25519GenerateKeyPair();
    const before = JSON.stringify(bob.state.toDict());
    for (let i = 0; i < 5; i++) {
      const forged = new EncryptedMessage({ dhPublicKey: fresh.publicKey, previousChainLength: 0, messageNumber: i }, concatBytes(setup.bytes(12), setup.bytes(40)));
      await expect(bob.decrypt(forged)).rejects.toBeInstanceOf(AuthenticationError);
    }
    expect(draws).toBe(0);
    expect(JSON.stringify(bob.state.toDict())).toBe(before);
    // The genuine message takes the DH step and draws exactly one key pair.
    expect(toHex(await bob.decrypt(genuine))).toBe(toHex(utf8('hello')));
    expect(draws).toBe(1);
  });
});

/** An initiator and a responder over noble with seeded randomness, and the responder's signed pre-key pair. */
async function seededPair(seed: number) {
  const setup = new Rng(seed);
  const noble = (rng: Rng) => createCryptoProvider({ curves: 'noble', hashes: 'noble', random: (n) => rng.bytes(n) });
  const shared = setup.bytes(32);
  const bobPair = await noble(setup).x25519GenerateKeyPair();
  const alice = await DoubleRatchet.initSender({ sharedSecret: shared, remoteDhPublic: bobPair.publicKey }, { crypto: noble(setup.fork(1)) });
  const bob = DoubleRatchet.initReceiver({ sharedSecret: shared, dhKeyPair: bobPair }, { crypto: noble(setup.fork(2)) });
  return { alice, bob, bobPair, setup };
}

describe('a header naming the remote key without a receiving chain is refused, typed (regression)', () => {
  it('the initiator, before any answer, refuses a message on the responder\'s signed pre-key with NoReceivingChainError and changes nothing', async () => {
    // Before the union state the initiator read its receiving chain key with `!`: it holds the
    // responder's signed pre-key as its remote key but no chain from it, so a forged header naming
    // that key reached HMAC with a null key and threw an untyped TypeError (issue 14, class 8).
    // The fuzzer's 'no-receiving-chain' inputs keep it so (fuzz/ratchet.ts).
    const { alice, bob, bobPair, setup } = await seededPair(3);
    const opening = await alice.encrypt(utf8('hello'));
    const before = JSON.stringify(alice.state.toDict());
    for (const [pn, n] of [[0, 0], [0, 5], [7, 0], [0xffffffff, 0xffffffff]] as const) {
      const forged = new EncryptedMessage({ dhPublicKey: bobPair.publicKey, previousChainLength: pn, messageNumber: n }, setup.bytes(12 + 40));
      const error = await alice.decrypt(forged).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(NoReceivingChainError);
      expect((error as NoReceivingChainError).code).toBe('no_receiving_chain');
      expect((error as NoReceivingChainError).messageNumber).toBe(n);
      expect(JSON.stringify(alice.state.toDict())).toBe(before);
    }
    // The conversation goes on: the responder answers, and the initiator reads the answer.
    expect(toHex(await bob.decrypt(opening))).toBe(toHex(utf8('hello')));
    expect(toHex(await alice.decrypt(await bob.encrypt(utf8('answer'))))).toBe(toHex(utf8('answer')));
  });
});

describe('a send that fails changes nothing (regression)', () => {
  it('an oversize plaintext is refused before the sending chain moves, and the next message is number 0', async () => {
    // The size check used to run in the EncryptedMessage constructor, after the chain had advanced:
    // the refused send burned message key 0 (issue 14, class 9).
    const { alice, bob } = await seededPair(4);
    const before = JSON.stringify(alice.state.toDict());
    const oversize = new Uint8Array(LIMITS.maxCiphertextBytes - NONCE_LENGTH - TAG_LENGTH + 1);
    await expect(alice.encrypt(oversize)).rejects.toThrow(InvalidMessageError);
    await expect(alice.encrypt(oversize)).rejects.toThrow(/plaintext larger than 16777188 bytes \(got 16777189\)/);
    expect(JSON.stringify(alice.state.toDict())).toBe(before);
    const next = await alice.encrypt(utf8('after'));
    expect(next.header.messageNumber).toBe(0);
    expect(toHex(await bob.decrypt(next))).toBe(toHex(utf8('after')));
  });
});
