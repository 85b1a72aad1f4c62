import { describe, expect, it } from 'vitest';
import { SecureChannel } from '../src/channel/secure-channel.js';
import { toHex } from '../src/encoding.js';
import { EncryptedMessage } from '../src/wire/encrypted-message.js';
import { managerFromSeed } from './helpers/session.js';
import { hex, PRESETS, replayProvider, vectors } from './helpers/vectors.js';

describe.each(PRESETS)('SecureChannel conversations from the reference (%s)', (preset) => {
  for (const conv of vectors.ratchet.conversations) {
    it(`${conv.name}: every key, nonce, wire byte and state after every step`, async () => {
      const aliceCrypto = replayProvider(preset, conv.rng.alice.seed);
      const bobCrypto = replayProvider(preset, conv.rng.bob.seed);
      const alice = await managerFromSeed(conv.x3dh.initiator_ed25519_seed, aliceCrypto);
      const bob = await managerFromSeed(conv.x3dh.responder_ed25519_seed, bobCrypto);
      await bob.generateSignedPreKey();
      const otk = conv.x3dh.one_time_pre_key;
      if (otk) await bob.generateOneTimePreKeys(otk.key_id + 1);
      const bundle = bob.getPublicBundle(otk?.key_id);
      const ad = hex(conv.app_associated_data);

      const [aliceCh, est] = await SecureChannel.createSender(alice, bundle, ad);
      expect(toHex(est.identityKey)).toBe(conv.establishment.initiator_identity_key);
      expect(toHex(est.ephemeralKey)).toBe(conv.establishment.ephemeral_public_key);
      expect(est.usedOneTimeKeyId).toBe(conv.establishment.used_one_time_key_id);
      expect(aliceCh.state.toDict()).toEqual(conv.initial_state.alice);
      expect(toHex(aliceCh.associatedData)).toBe(conv.channel_associated_data);

      // The reference's establishment has no signed pre-key id.
      const bobCh = await SecureChannel.createReceiver(bob, { ...est, signedPreKeyId: undefined }, ad);
      expect(bobCh.state.toDict()).toEqual(conv.initial_state.bob);

      const channels = { alice: aliceCh, bob: bobCh };
      const wires = new Map<string, Uint8Array>();
      const messages = new Map(conv.messages.map((m) => [m.id, m]));
      for (const ev of conv.events) {
        const ch = channels[ev.party as 'alice' | 'bob'];
        const m = messages.get(ev.message)!;
        if (ev.action === 'send') {
          const sent = await ch.send(hex(m.plaintext));
          expect(toHex(sent.headerBytes)).toBe(m.header_bytes);
          expect(toHex(sent.ciphertext)).toBe(m.ciphertext);
          expect(toHex(sent.serialize())).toBe(m.wire);
          wires.set(m.id, sent.serialize());
        } else {
          const plaintext = await ch.receive(EncryptedMessage.deserialize(wires.get(m.id)!));
          expect(toHex(plaintext)).toBe(ev.plaintext);
        }
        expect(ch.state.toDict(), `state after step ${ev.step}`).toEqual(ev.state_after);
        // Key order too: the JSON must match the reference's text exactly.
        expect(JSON.stringify(ch.state.toDict())).toBe(JSON.stringify(ev.state_after));
      }
      expect(aliceCrypto.draws()).toBe(conv.rng.alice.draws.length);
      expect(bobCrypto.draws()).toBe(conv.rng.bob.draws.length);
      expect(aliceCh.messageCount + bobCh.messageCount).toBe(2 * conv.messages.length);

      if (conv.alice_state_after_close) {
        const state = aliceCh.state;
        await aliceCh.close();
        const closed = state.toDict();
        const expected = conv.alice_state_after_close;
        expect(closed.root_key).toBe(expected.root_key);
        expect(closed.chain_key_send).toBe(expected.chain_key_send);
        expect(closed.chain_key_recv).toBe(expected.chain_key_recv);
        expect(closed.skipped_keys).toEqual({});
        // Beyond the reference: the ratchet private key is zeroed too.
        expect(closed.dh_self_private).toBe('0'.repeat(64));
        expect(aliceCh.isClosed).toBe(true);
      }
    });
  }
});
