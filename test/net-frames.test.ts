import { describe, expect, it } from 'vitest';
import { toBase64Url } from '../src/encoding.js';
import { AgentIdentity } from '../src/identity/agent-identity.js';
import { InvalidFrameError } from '../src/net/errors.js';
import { checkAckFrame, checkRoutedFrame, createFrame, isRoutedType, isUuid, newFrameId, parseFrame } from '../src/net/frames.js';
import { decodePreKeyUpload, encodePreKeyUpload } from '../src/net/prekey-upload.js';
import { backoffDelay } from '../src/net/backoff.js';

const [a, b] = await Promise.all([AgentIdentity.generate(), AgentIdentity.generate()]);
const message = (extra: Record<string, unknown> = {}) =>
  createFrame('message', a.did, b.did, {
    header: { dh: toBase64Url(new Uint8Array(32).fill(1)), pn: 0, n: 3 },
    ciphertext: toBase64Url(new Uint8Array(40)),
    ...extra,
  });

describe('frames', () => {
  it('makes version-4 UUIDs and full envelopes', () => {
    const ids = new Set(Array.from({ length: 100 }, () => newFrameId()));
    expect(ids.size).toBe(100);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const f = createFrame('heartbeat', a.did, 'relay', { v: 9 }, { now: () => 0 });
    expect(f).toMatchObject({ v: 1, type: 'heartbeat', from: a.did, to: 'relay', ts: '1970-01-01T00:00:00.000Z' });
    expect(isUuid(f.id)).toBe(true);
  });

  it('parses envelopes strictly', () => {
    const good = message();
    expect(parseFrame(JSON.stringify(good))).toEqual(good);
    for (const bad of [
      '',
      'x',
      '[]',
      JSON.stringify({ ...good, v: 2 }),
      JSON.stringify({ ...good, type: 'Message' }),
      JSON.stringify({ ...good, from: 'alice' }),
      JSON.stringify({ ...good, to: 42 }),
      JSON.stringify({ ...good, id: '123' }),
      JSON.stringify({ ...good, ts: '2026-01-01' }),
    ]) {
      expect(() => parseFrame(bad), bad.slice(0, 60)).toThrow(InvalidFrameError);
    }
    expect(() => parseFrame(JSON.stringify(good), 100)).toThrow(/larger than/);
    expect(() => parseFrame(42)).toThrow(InvalidFrameError);
  });

  it('checks the fields of known routed types and passes others through', () => {
    expect(checkRoutedFrame(message())).toBeTruthy();
    expect(checkRoutedFrame(message({ x3dh: { identity_key: toBase64Url(new Uint8Array(32)), ephemeral_key: toBase64Url(new Uint8Array(32)), used_opk_id: null, spk_id: 2 } }))).toBeTruthy();
    expect(() => checkRoutedFrame(message({ x3dh: { identity_key: toBase64Url(new Uint8Array(32)), ephemeral_key: toBase64Url(new Uint8Array(32)) } }))).toThrow(/used_opk_id/);
    expect(() => checkRoutedFrame(message({ ciphertext: 'AAAA' }))).toThrow(InvalidFrameError);
    expect(() => checkRoutedFrame(createFrame('knock', a.did, b.did, { intent: {} }))).toThrow(/signature/);
    expect(() => checkRoutedFrame(createFrame('knock_accept', a.did, b.did, { signature: toBase64Url(new Uint8Array(64)) }))).toThrow(/knock_id/);
    expect(() => checkRoutedFrame(createFrame('knock_reject', a.did, b.did, { knock_id: 'k', reason: 5, signature: toBase64Url(new Uint8Array(64)) }))).toThrow(/reason/);
    expect(checkRoutedFrame(createFrame('trust_challenge', a.did, b.did, { anything: [1, 2] }))).toBeTruthy();
    expect(() => checkRoutedFrame(createFrame('message', a.did, 'relay'))).toThrow(/DID/);
    for (const t of ['connect', 'connected', 'ack', 'heartbeat']) expect(isRoutedType(t)).toBe(false);
    expect(isRoutedType('error')).toBe(true);
  });

  it('reads acks', () => {
    const target = message();
    expect(checkAckFrame(createFrame('ack', b.did, a.did, { ack_id: target.id }))).toEqual({ sender: a.did, ackId: target.id });
    expect(() => checkAckFrame(createFrame('ack', b.did, a.did, {}))).toThrow(/ack_id/);
    expect(() => checkAckFrame(createFrame('ack', b.did, 'relay', { ack_id: target.id }))).toThrow(/sender/);
  });
});

describe('pre-key upload codec', () => {
  it('round-trips and refuses duplicates and bad lengths', () => {
    const key = (n: number) => new Uint8Array(32).fill(n);
    const upload = {
      identityKey: key(1),
      identityKeyEd: key(2),
      signedPreKey: { keyId: 7, publicKey: key(3), signature: new Uint8Array(64).fill(4) },
      oneTimePreKeys: [{ keyId: 1, publicKey: key(5) }, { keyId: 2, publicKey: key(6) }],
    };
    const json = encodePreKeyUpload(upload);
    expect(decodePreKeyUpload(JSON.stringify(json))).toEqual(upload);
    expect(() => decodePreKeyUpload({ ...json, one_time_pre_keys: [json.one_time_pre_keys[0], json.one_time_pre_keys[0]] })).toThrow(/twice/);
    expect(() => decodePreKeyUpload({ ...json, identity_key: 'AAAA' })).toThrow(/32 bytes/);
    expect(() => decodePreKeyUpload({ ...json, one_time_pre_keys: 'x' })).toThrow(/array/);
    expect(decodePreKeyUpload({ ...json, one_time_pre_keys: undefined }).oneTimePreKeys).toEqual([]);
  });
});

describe('backoff', () => {
  it('grows exponentially to a ceiling, with jitter below the nominal delay', () => {
    const none = { jitter: 0 };
    expect([0, 1, 2, 3, 10, 100].map((n) => backoffDelay(n, none))).toEqual([500, 1000, 2000, 4000, 30_000, 30_000]);
    expect(backoffDelay(3, {}, () => 0.999)).toBeGreaterThanOrEqual(2000);
    expect(backoffDelay(3, {}, () => 0)).toBe(4000);
    const spread = new Set(Array.from({ length: 20 }, () => backoffDelay(4, {})));
    expect(spread.size).toBeGreaterThan(1);
  });
});
