/**
 * Secrets that leave no trace (issue 13, section 5): closing a channel releases the key objects a
 * native backend imported for its private keys, and no key-holding object prints a key byte.
 */
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { SecureChannel } from '../src/channel/secure-channel.js';
import { createCryptoProvider, webCryptoCurvesSupported, type CryptoProvider, type CurveBackend } from '../src/crypto/index.js';
import { nodeCurves } from '../src/crypto/node.js';
import { webCryptoCurves } from '../src/crypto/webcrypto.js';
import { toBase64Url, toHex, utf8, type Bytes } from '../src/encoding.js';
import { AgentIdentity } from '../src/identity/agent-identity.js';
import { DoubleRatchet } from '../src/ratchet/double-ratchet.js';
import { X3DHKeyManager } from '../src/x3dh/key-manager.js';

async function channels(crypto: CryptoProvider) {
  const aliceId = await AgentIdentity.generate({ crypto });
  const bobId = await AgentIdentity.generate({ crypto });
  const alice = await X3DHKeyManager.fromEd25519Keys(aliceId.secretKey, aliceId.publicKey, { crypto });
  const bob = await X3DHKeyManager.fromEd25519Keys(bobId.secretKey, bobId.publicKey, { crypto });
  await bob.generateSignedPreKey();
  await bob.generateOneTimePreKeys(1);
  const [a, establishment] = await SecureChannel.createSender(alice, bob.getPublicBundle(0));
  const b = await SecureChannel.createReceiver(bob, establishment);
  return { a, b, alice, bob, aliceId, bobId };
}

describe('close() empties the provider key cache of the channel keys', () => {
  const presets: [string, () => Promise<CurveBackend | null>][] = [
    ['node', async () => nodeCurves],
    ['fast', async () => ((await webCryptoCurvesSupported()) ? webCryptoCurves : null)],
    ['webcrypto', async () => ((await webCryptoCurvesSupported()) ? webCryptoCurves : null)],
  ];
  for (const [preset, backend] of presets) {
    it(`${preset}: no key object remains for any ratchet private key of a closed channel`, async (ctx) => {
      const curves = await backend();
      if (!curves) return ctx.skip();
      const { a, b } = await channels(createCryptoProvider(preset as 'node'));
      // Every private key each side's ratchet has held: a DH step replaces it with a new one.
      const held = { a: new Set<Bytes>(), b: new Set<Bytes>() };
      const note = () => {
        held.a.add(a.state.dhSelfPrivate);
        held.b.add(b.state.dhSelfPrivate);
      };
      note();
      for (let i = 0; i < 4; i++) {
        await b.receive(await a.send(utf8(`a${i}`)));
        note();
        await a.receive(await b.send(utf8(`b${i}`)));
        note();
      }
      expect(held.a.size).toBeGreaterThan(3);
      // The keys in use are in the cache (else this test would prove nothing); replaced ones are not.
      expect(curves.holds!(a.state.dhSelfPrivate)).toBe(true);
      expect(curves.holds!(b.state.dhSelfPrivate)).toBe(true);
      for (const k of [...held.a, ...held.b]) if (k !== a.state.dhSelfPrivate && k !== b.state.dhSelfPrivate) expect(curves.holds!(k)).toBe(false);

      await a.close();
      for (const k of held.a) expect(curves.holds!(k)).toBe(false);
      for (const k of held.a) expect(k.every((x) => x === 0)).toBe(true);
      // The other channel is untouched.
      expect(curves.holds!(b.state.dhSelfPrivate)).toBe(true);
      await b.close();
      for (const k of held.b) expect(curves.holds!(k)).toBe(false);
    });
  }

  it('node: wipe() of an identity releases the key object imported for its seed', async () => {
    const node = createCryptoProvider('node');
    // The identity's own seed array, seen as it goes to the backend.
    const seeds = new Set<Uint8Array>();
    const crypto: CryptoProvider = { ...node, ed25519Sign: (seed, message) => (seeds.add(seed), node.ed25519Sign(seed, message)) };
    const identity = await AgentIdentity.generate({ crypto });
    await identity.sign(utf8('x'));
    const [seed] = seeds;
    expect(nodeCurves.holds!(seed!)).toBe(true);
    identity.wipe();
    expect(nodeCurves.holds!(seed!)).toBe(false);
    expect(seed!.every((x) => x === 0)).toBe(true);
    await expect(identity.sign(utf8('x'))).rejects.toThrow(/wiped/);
  });
});

/** Every way a secret's bytes could show in text: hex, base64 (both alphabets), and decimal lists. */
function leaks(text: string, secret: Uint8Array): string | null {
  const first = Array.from(secret.subarray(0, 8));
  const forms = [
    toHex(secret),
    toBase64Url(secret),
    btoa(String.fromCharCode(...secret)).replace(/=+$/, ''),
    first.join(', '),
    first.join(','),
    first.map((x, i) => `"${i}":${x}`).join(','),
  ];
  return forms.find((f) => text.includes(f)) ?? null;
}

describe('key-holding objects print counters and ids, never key bytes', () => {
  it('util.inspect, String() and JSON.stringify of each show none of the secrets it holds', async () => {
    const crypto = createCryptoProvider('node');
    const { a, b, alice, bob, aliceId } = await channels(crypto);
    await b.receive(await a.send(utf8('one')));
    const skipped = await b.send(utf8('skipped'));
    await a.receive(await b.send(utf8('two')));
    void skipped;
    const ratchet = await DoubleRatchet.initSender({ sharedSecret: crypto.randomBytes(32), remoteDhPublic: bob.getPublicBundle().signedPreKey }, { crypto });
    const pair = await crypto.x25519GenerateKeyPair();

    const secrets: Uint8Array[] = [pair.privateKey, aliceId.secretKey.subarray(0, 32), alice.identityKey.privateKey, bob.signedPreKey!.keyPair.privateKey];
    for (const s of [a.state, b.state, ratchet.state]) {
      secrets.push(s.dhSelfPrivate, s.rootKey, ...s.skippedKeys.values());
      if (s.chainKeySend) secrets.push(s.chainKeySend);
      if (s.chainKeyRecv) secrets.push(s.chainKeyRecv);
    }
    expect(a.state.skippedKeys.size).toBe(1);

    const objects: [string, unknown][] = [
      ['AgentIdentity', aliceId],
      ['X3DHKeyManager', alice],
      ['SecureChannel (initiator)', a],
      ['SecureChannel (responder)', b],
      ['DoubleRatchet', ratchet],
      ['RatchetState', a.state],
      ['X25519 key pair', pair],
    ];
    for (const [name, object] of objects) {
      const texts = [inspect(object, { depth: Infinity, showHidden: true }), String(object), JSON.stringify(object)];
      for (const text of texts) {
        for (const secret of secrets) expect(leaks(text, secret), `${name} printed a secret: ${text}`).toBeNull();
      }
    }
    // What they print instead: counters and ids.
    expect(inspect(a)).toMatch(/^SecureChannel \{ .*messageCount: 2.*sending: 'active #\d+'.*skippedKeys: 1/);
    expect(String(a.state)).toMatch(/^RatchetState \{ ratchetKey: '[0-9a-f]{8}', remoteKey: '[0-9a-f]{8}'/);
    expect(JSON.stringify(ratchet)).toMatch(/"receiving":"remote-key"/);
    expect(inspect(aliceId)).toBe(`AgentIdentity { did: '${aliceId.did}', wiped: false }`);
    expect(inspect(alice)).toMatch(/^X3DHKeyManager \{ identityKey: '[0-9a-f]{8}'/);
    expect(inspect(pair)).toMatch(/^X25519KeyPair \{ publicKey: '[0-9a-f]{8}' \}$/);
  });
});
