import { describe, expect, it } from 'vitest';
import { SecureChannel } from '../src/channel/secure-channel.js';
import { decodeEstablishment, encodeEstablishment } from '../src/channel/establishment.js';
import { createCryptoProvider } from '../src/crypto/index.js';
import { fromUtf8, toBase64Url, utf8 } from '../src/encoding.js';
import {
  AuthenticationError,
  ChannelClosedError,
  InvalidEstablishmentError,
  InvalidMessageError,
  RatchetStateError,
} from '../src/errors.js';
import { EncryptedMessage } from '../src/wire/encrypted-message.js';
import { X3DHKeyManager } from '../src/x3dh/key-manager.js';
import { AgentIdentity } from '../src/identity/agent-identity.js';

const EMPTY_AD = new Uint8Array(0);

async function agent(options: { now?: () => number } = {}) {
  const id = await AgentIdentity.generate();
  return X3DHKeyManager.fromEd25519Keys(id.secretKey, id.publicKey, options);
}

async function pair() {
  const alice = await agent();
  const bob = await agent();
  await bob.generateSignedPreKey();
  await bob.generateOneTimePreKeys(2);
  const ad = utf8('a|b');
  const [a, est] = await SecureChannel.createSender(alice, bob.getPublicBundle(0), ad);
  const b = await SecureChannel.createReceiver(bob, est, ad);
  return { a, b, alice, bob, est };
}

describe('SecureChannel', () => {
  it('talks both ways over the binary and the JSON frame forms', async () => {
    const { a, b } = await pair();
    expect(fromUtf8(await b.receive((await a.send(utf8('one'))).serialize()))).toBe('one');
    const frame = JSON.stringify((await b.send(utf8('two'))).toFrame());
    expect(fromUtf8(await a.receive(EncryptedMessage.fromFrame(frame)))).toBe('two');
    expect(a.messageCount).toBe(2);
  });

  it('the responder cannot send before it has received', async () => {
    const { b } = await pair();
    await expect(b.send(utf8('too early'))).rejects.toThrow(RatchetStateError);
    expect(b.messageCount).toBe(0);
  });

  it('close() zeroes every key and refuses further use', async () => {
    const { a, b } = await pair();
    await b.receive(await a.send(utf8('x')));
    await a.receive(await b.send(utf8('y')));
    await b.receive(await a.send(utf8('z')));
    const late = await a.send(utf8('cached later'));
    const skipped = await a.send(utf8('w'));
    await b.receive(skipped);
    const state = b.state;
    const held = [state.rootKey, state.chainKeySend!, state.chainKeyRecv!, state.dhSelfPrivate, ...state.skippedKeys.values()];
    expect(state.skippedKeys.size).toBe(1);
    await b.close();
    for (const k of held) expect(k.every((x) => x === 0)).toBe(true);
    expect(state.skippedKeys.size).toBe(0);
    await expect(b.receive(late)).rejects.toThrow(ChannelClosedError);
    await expect(b.send(utf8('no'))).rejects.toThrow(ChannelClosedError);
    expect(() => b.snapshot()).toThrow(ChannelClosedError);
  });

  it('concurrent receives on one channel serialize and all succeed', async () => {
    const { a, b } = await pair();
    await b.receive(await a.send(utf8('start')));
    await a.receive(await b.send(utf8('turn')));
    const msgs = await Promise.all(Array.from({ length: 8 }, (_, i) => a.send(utf8(`m${i}`))));
    const order = [5, 0, 7, 2, 1, 6, 3, 4];
    const out = await Promise.all(order.map((i) => b.receive(msgs[i]!)));
    expect(out.map(fromUtf8)).toEqual(order.map((i) => `m${i}`));
  });

  it('snapshot/restore continues the conversation', async () => {
    const { a, b } = await pair();
    await b.receive(await a.send(utf8('before')));
    const b2 = SecureChannel.restore(b.snapshot());
    const reply = await b2.send(utf8('after restore'));
    expect(fromUtf8(await a.receive(reply))).toBe('after restore');
    expect(b2.messageCount).toBe(2);
  });

  it('a rotated signed pre-key still completes an establishment that does not name it', async () => {
    let now = 0;
    const alice = await agent();
    const bob = await agent({ now: () => now });
    await bob.generateSignedPreKey();
    const oldBundle = bob.getPublicBundle();
    const [a, est] = await SecureChannel.createSender(alice, oldBundle);
    now += 1000;
    await bob.generateSignedPreKey();
    // The reference's establishment carries no spk_id: current first, then the retained one.
    const b = await SecureChannel.createReceiver(bob, { ...est, signedPreKeyId: undefined });
    const first = await a.send(utf8('made against the old key'));
    const forged = new EncryptedMessage(first.header, first.ciphertext.map((x, i) => (i === 20 ? x ^ 1 : x)));
    await expect(b.receive(forged)).rejects.toThrow(AuthenticationError);
    expect(fromUtf8(await b.receive(first))).toBe('made against the old key');
    expect(fromUtf8(await a.receive(await b.send(utf8('ok'))))).toBe('ok');
    // With the id named it works directly.
    const [a2, est2] = await SecureChannel.createSender(alice, oldBundle);
    const b2 = await SecureChannel.createReceiver(bob, est2);
    expect(fromUtf8(await b2.receive(await a2.send(utf8('named'))))).toBe('named');
  });

  it('refuses ratchet limits that RatchetState.fromDict would refuse to read back', async () => {
    const alice = await agent();
    const bob = await agent();
    await bob.generateSignedPreKey();
    for (const options of [{ maxSkip: -1 }, { maxSkip: 100_001 }, { maxSkip: 1.5 }, { maxSkippedKeys: 1_000_001 }, { maxSkippedKeys: Number.NaN }]) {
      await expect(SecureChannel.createSender(alice, bob.getPublicBundle(), EMPTY_AD, options)).rejects.toThrow(RangeError);
    }
    const [a] = await SecureChannel.createSender(alice, bob.getPublicBundle(), EMPTY_AD, { maxSkip: 100_000, maxSkippedKeys: 1_000_000 });
    expect(SecureChannel.restore(a.snapshot()).state.maxSkip).toBe(100_000);
  });

  it('rejects a malformed message without changing anything', async () => {
    const { a, b } = await pair();
    await b.receive(await a.send(utf8('x')));
    const before = JSON.stringify(b.state.toDict());
    await expect(b.receive(new Uint8Array([0, 0, 0]))).rejects.toThrow(InvalidMessageError);
    expect(JSON.stringify(b.state.toDict())).toBe(before);
  });
});

describe('establishment JSON codec', () => {
  it('round-trips, with the optional spk_id', async () => {
    const { est } = await pair();
    const json = encodeEstablishment(est);
    expect(Object.keys(json)).toEqual(['identity_key', 'ephemeral_key', 'used_opk_id', 'spk_id']);
    expect(decodeEstablishment(JSON.stringify(json))).toEqual(est);
    const { spk_id: _, ...reference } = json;
    expect(decodeEstablishment(reference).signedPreKeyId).toBeNull();
    expect(decodeEstablishment({ ...reference, used_opk_id: null }).usedOneTimeKeyId).toBeNull();
  });

  it('rejects bad input with InvalidEstablishmentError', async () => {
    const { est } = await pair();
    const json = encodeEstablishment(est);
    for (const bad of [
      null,
      'nope',
      { ...json, identity_key: toBase64Url(new Uint8Array(33)) },
      { ...json, ephemeral_key: 5 },
      { ...json, used_opk_id: 'x' },
      { identity_key: json.identity_key, ephemeral_key: json.ephemeral_key },
      { ...json, spk_id: -1 },
    ]) {
      expect(() => decodeEstablishment(bad)).toThrow(InvalidEstablishmentError);
    }
  });
});

describe('message frame codec', () => {
  it('rejects malformed frames with InvalidMessageError', async () => {
    const { a } = await pair();
    const frame = (await a.send(utf8('x'))).toFrame();
    for (const bad of [
      '{',
      [],
      { ...frame, header: null },
      { ...frame, header: { ...frame.header, n: -1 } },
      { ...frame, header: { ...frame.header, pn: 2 ** 32 } },
      { ...frame, header: { ...frame.header, dh: 'AAAA' } },
      { ...frame, ciphertext: toBase64Url(new Uint8Array(27)) },
      { ...frame, ciphertext: 17 },
    ]) {
      expect(() => EncryptedMessage.fromFrame(bad)).toThrow(InvalidMessageError);
    }
  });
});

describe('crypto providers', () => {
  it('every preset agrees with every other', async () => {
    const presets = ['baseline', 'fast', 'noble', 'webcrypto'] as const;
    const seed = new Uint8Array(32).fill(3);
    const results = await Promise.all(
      presets.map(async (p) => {
        const c = createCryptoProvider(p);
        const pub = await c.x25519PublicKey(seed);
        return [
          pub,
          await c.x25519(seed, pub),
          await c.ed25519Sign(seed, utf8('m')),
          await c.hmacSha256(seed, utf8('m')),
          await c.hkdfSha256(seed, seed, utf8('i'), 64),
        ];
      }),
    );
    for (const r of results) expect(r).toEqual(results[0]);
  });
});
