import { describe, expect, it } from 'vitest';
import { SecureChannel } from '../src/channel/secure-channel.js';
import { createCryptoProvider } from '../src/crypto/index.js';
import { toHex } from '../src/encoding.js';
import {
  AgentMeshError,
  AuthenticationError,
  InvalidKeyError,
  InvalidMessageError,
  ReplayedMessageError,
  TooManySkippedMessagesError,
} from '../src/errors.js';
import { DoubleRatchet } from '../src/ratchet/double-ratchet.js';
import { RatchetState } from '../src/ratchet/state.js';
import { EncryptedMessage } from '../src/wire/encrypted-message.js';
import { hex, PRESETS, vectors } from './helpers/vectors.js';

const neg = vectors.negative;
const base = neg.base;
const messages = base.messages as Record<string, { wire: string; plaintext: string }>;

/** The error type each case must raise (the reference raises untyped or library errors). */
const EXPECTED: Record<string, new (...args: never[]) => AgentMeshError> = {
  tampered_ciphertext_first_message: AuthenticationError,
  tampered_ciphertext_in_chain: AuthenticationError,
  tampered_tag: AuthenticationError,
  tampered_nonce: AuthenticationError,
  tampered_header_n: AuthenticationError,
  tampered_header_pn: AuthenticationError,
  tampered_header_dh: AuthenticationError,
  wrong_app_associated_data: AuthenticationError,
  swapped_dids_in_associated_data: AuthenticationError,
  swapped_identity_keys_in_associated_data: AuthenticationError,
  truncated_wire_3_bytes: InvalidMessageError,
  truncated_wire_inside_header: InvalidMessageError,
  header_length_field_39: InvalidMessageError,
  truncated_wire_tag_short_by_1: AuthenticationError,
  ciphertext_field_11_bytes: InvalidMessageError,
  ciphertext_field_nonce_only: InvalidMessageError,
  skip_101_from_fresh: TooManySkippedMessagesError,
  skip_101_in_chain: TooManySkippedMessagesError,
  replay_of_decrypted_message: ReplayedMessageError,
  replay_of_message_from_skipped_cache: ReplayedMessageError,
  forged_message_on_cached_slot: AuthenticationError,
  low_order_ratchet_key: InvalidKeyError,
};

function receiverFor(startState: string, channelAd: string | null, preset: (typeof PRESETS)[number]) {
  const state = RatchetState.fromDict(neg.start_states[startState as keyof typeof neg.start_states]);
  return SecureChannel.restore(
    {
      associatedData: hex(channelAd ?? base.channel_associated_data),
      localIdentityKey: hex(base.x3dh.responder_identity_x25519_public),
      remoteIdentityKey: hex(base.x3dh.initiator_identity_x25519_public),
      messageCount: 0,
      state: state.toDict(),
    },
    { crypto: createCryptoProvider(preset) },
  );
}

async function receiveWire(ch: SecureChannel, wire: Uint8Array): Promise<Uint8Array> {
  return ch.receive(EncryptedMessage.deserialize(wire));
}

describe.each(PRESETS)('negative vectors (%s)', (preset) => {
  for (const c of neg.ratchet_cases) {
    const accepted = c.python_result.outcome === 'ok';
    it(`${c.name}: ${c.correct_behaviour}`, async () => {
      let ch = receiverFor(c.start_state, c.receiver_channel_associated_data, preset);
      for (const id of c.deliver_first) await receiveWire(ch, hex(messages[id]!.wire));
      if ('state_before' in c && c.state_before) expect(ch.state.toDict()).toEqual(c.state_before);
      const before = JSON.stringify(ch.state.toDict());

      if (accepted) {
        expect(toHex(await receiveWire(ch, hex(c.input_wire)))).toBe(c.python_result.plaintext);
        const summary = (c as { state_after_summary?: Record<string, unknown> }).state_after_summary!;
        const after = ch.state.toDict();
        expect(after.recv_message_number).toBe(summary.recv_message_number);
        expect(Object.keys(after.skipped_keys)).toHaveLength(summary.skipped_key_count as number);
        const first = summary.first_skipped as { key: string; message_key: string };
        const last = summary.last_skipped as { key: string; message_key: string };
        expect(after.skipped_keys[first.key]).toBe(first.message_key);
        expect(after.skipped_keys[last.key]).toBe(last.message_key);
        expect(after.chain_key_recv).toBe(summary.chain_key_recv);
      } else {
        const error = await receiveWire(ch, hex(c.input_wire)).then(
          () => null,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(EXPECTED[c.name]!);
        // The fix over the reference: nothing changed, byte for byte.
        expect(JSON.stringify(ch.state.toDict())).toBe(before);
        expect(ch.messageCount).toBe(c.deliver_first.length);
      }

      // Every genuine message not yet delivered still decrypts, exactly once (for the wrong-AD
      // cases: on a correctly built channel holding the state the failure left behind).
      if (c.receiver_channel_associated_data) {
        ch = SecureChannel.restore({ ...ch.snapshot(), associatedData: hex(base.channel_associated_data) });
      }
      const delivered = new Set<string>(c.deliver_first);
      if (accepted) delivered.add(c.mutation.base_message);
      for (const id of ['m0', 'm1', 'm2', 'm100', 'm102', 'm101']) {
        if (delivered.has(id)) continue;
        if (c.start_state === 'bob_after_m0' && id === 'm0') continue;
        const wire = hex(messages[id]!.wire);
        const outcome = await receiveWire(ch, wire).then(
          (p) => toHex(p),
          (e: unknown) => e,
        );
        if (typeof outcome === 'string') {
          expect(outcome).toBe(messages[id]!.plaintext);
          await expect(receiveWire(ch, wire)).rejects.toBeInstanceOf(AgentMeshError);
        } else {
          // Only a skip past the limit may refuse a genuine message.
          expect(outcome).toBeInstanceOf(TooManySkippedMessagesError);
        }
      }
    });
  }

  it('the listed followups that the reference fails now succeed', async () => {
    for (const c of neg.ratchet_cases.filter((x) => x.python_result.outcome !== 'ok')) {
      const ch = receiverFor(c.start_state, c.receiver_channel_associated_data, preset);
      for (const id of c.deliver_first) await receiveWire(ch, hex(messages[id]!.wire));
      await receiveWire(ch, hex(c.input_wire)).catch(() => undefined);
      if (c.receiver_channel_associated_data) continue;
      for (const f of c.followups) {
        const replayOfDelivered = (c.deliver_first as string[]).includes(f.message) || (c.start_state === 'bob_after_m0' && f.message === 'm0');
        if (replayOfDelivered) continue;
        expect(toHex(await receiveWire(ch, hex(messages[f.message]!.wire))), `${c.name} then ${f.message}`).toBe(
          messages[f.message]!.plaintext,
        );
      }
    }
  });
});

describe('ratchet limits', () => {
  it('max skip is configurable and kept in the saved state', async () => {
    const state = RatchetState.fromDict(neg.start_states.bob_after_m0);
    const r = new DoubleRatchet(state, { maxSkip: 0 });
    const ad = hex(base.channel_associated_data);
    await expect(r.decrypt(EncryptedMessage.deserialize(hex(messages.m2!.wire)), ad)).rejects.toThrow(TooManySkippedMessagesError);
    const saved = r.state.toDict();
    expect(saved.max_skip).toBe(0);
    expect(RatchetState.fromDict(saved).maxSkip).toBe(0);
    expect(toHex(await r.decrypt(EncryptedMessage.deserialize(hex(messages.m1!.wire)), ad))).toBe(messages.m1!.plaintext);
    // Default limits are not written, so default states stay byte-identical to the reference's.
    expect('max_skip' in RatchetState.fromDict(neg.start_states.bob_after_m0).toDict()).toBe(false);
  });

  it('caps the skipped-key cache, dropping the oldest first', async () => {
    const state = RatchetState.fromDict(neg.start_states.bob_fresh);
    const r = new DoubleRatchet(state, { maxSkippedKeys: 10 });
    const ad = hex(base.channel_associated_data);
    expect(toHex(await r.decrypt(EncryptedMessage.deserialize(hex(messages.m100!.wire)), ad))).toBe(messages.m100!.plaintext);
    const ids = [...r.state.skippedKeys.keys()].map((k) => Number(k.split(':')[1]));
    expect(ids).toEqual([90, 91, 92, 93, 94, 95, 96, 97, 98, 99]);
    await expect(r.decrypt(EncryptedMessage.deserialize(hex(messages.m0!.wire)), ad)).rejects.toThrow(ReplayedMessageError);
  });

  it('refuses corrupt saved states with a typed error', () => {
    const good = neg.start_states.bob_after_m0;
    const bad: unknown[] = [
      null,
      [],
      { ...good, root_key: 'zz' },
      { ...good, root_key: undefined },
      { ...good, chain_key_send: 'ab' },
      { ...good, send_message_number: -1 },
      { ...good, recv_message_number: 2 ** 32 },
      { ...good, skipped_keys: { nonsense: good.root_key } },
      { ...good, skipped_keys: { [`${good.dh_remote_public}:1`]: 'xyz' } },
      { ...good, skipped_keys: [] },
      { ...good, max_skip: -5 },
    ];
    for (const b of bad) expect(() => RatchetState.fromDict(b)).toThrow(/invalid ratchet state/);
  });
});
