/**
 * Property-based tests of the Double Ratchet and SecureChannel under hostile delivery.
 *
 * Random schedules in both directions send, deliver (reordered, duplicated, concurrently),
 * drop, persist and restore, and inject bad input: bit flips in header and ciphertext,
 * truncation, extension, forged and swapped headers, low-order ratchet keys, forgeries aimed
 * at cached skipped keys, wrong associated data, and random bytes. A small model of the
 * protocol (chains as epochs, the skipped-key cache as an ordered set) predicts the outcome
 * of every genuine delivery exactly, including the skip limit and cache eviction. Checked:
 * - every genuine message decrypts at most once, to its own plaintext, exactly when the model
 *   says so; with the default limits every message not dropped decrypts exactly once;
 * - every bad input is rejected with an AgentMeshError subclass and leaves `toDict()` byte for
 *   byte as it was; the conversation continues afterwards.
 *
 * FC_RUNS=<n> sets the number of runs of every property (default: a few seconds in all);
 * FC_SEED=<n> replays a seed that fast-check reported.
 */
import { shake256 } from '@noble/hashes/sha3.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeEstablishment, decodeEstablishment } from '../src/channel/establishment.js';
import { SecureChannel } from '../src/channel/secure-channel.js';
import { createCryptoProvider, CRYPTO_PRESETS, type CryptoPreset, type CryptoProvider } from '../src/crypto/index.js';
import { concatBytes, toHex, utf8, type Bytes } from '../src/encoding.js';
import {
  AgentMeshError,
  AuthenticationError,
  InvalidKeyError,
  RatchetStateError,
  ReplayedMessageError,
  TooManySkippedMessagesError,
} from '../src/errors.js';
import { DoubleRatchet } from '../src/ratchet/double-ratchet.js';
import { DEFAULT_MAX_SKIP, DEFAULT_MAX_SKIPPED_KEYS, RatchetState } from '../src/ratchet/state.js';
import { EncryptedMessage } from '../src/wire/encrypted-message.js';
import { LOW_ORDER_POINTS as LOW_ORDER } from '../fuzz/low-order.js';
import { decodeBundle, encodeBundle } from '../src/x3dh/bundle.js';
import { X3DHKeyManager } from '../src/x3dh/key-manager.js';

// ---------------------------------------------------------------------------------------------
// Run configuration

const env = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env ?? {};
const FC_RUNS = Number.parseInt(env.FC_RUNS ?? '', 10);
const FC_SEED = Number.parseInt(env.FC_SEED ?? '', 10);

function params(defaultRuns: number): { numRuns: number; seed?: number; interruptAfterTimeLimit?: number } {
  const long = Number.isFinite(FC_RUNS) && FC_RUNS > 0;
  return {
    numRuns: long ? FC_RUNS : defaultRuns,
    ...(Number.isFinite(FC_SEED) ? { seed: FC_SEED } : {}),
    // Bounds shrinking of a failure (each step replays a whole schedule) below the test timeout;
    // the report then shows the smallest counterexample found so far.
    ...(long ? {} : { interruptAfterTimeLimit: 40_000 }),
  };
}

/** Long runs (FC_RUNS) must not trip vitest's per-test timeout. */
const TIMEOUT = Number.isFinite(FC_RUNS) && FC_RUNS > 0 ? 24 * 3600_000 : 60_000;

// ---------------------------------------------------------------------------------------------
// Endpoints: the same schedule runs against a bare DoubleRatchet or against a SecureChannel.

type Layer = 'ratchet' | 'channel';
type Party = 'A' | 'B';
const peerOf = (p: Party): Party => (p === 'A' ? 'B' : 'A');

interface Limits {
  maxSkip: number;
  maxSkippedKeys: number;
}
const DEFAULT_LIMITS: Limits = { maxSkip: DEFAULT_MAX_SKIP, maxSkippedKeys: DEFAULT_MAX_SKIPPED_KEYS };

interface Endpoint {
  send(plaintext: Uint8Array): Promise<EncryptedMessage>;
  /** `wrongAd` flips one bit of the associated data (bare ratchet only). */
  receive(input: EncryptedMessage | Uint8Array, wrongAd?: number): Promise<Uint8Array>;
  /** JSON text of `RatchetState.toDict()`: compared byte for byte. */
  stateJson(): string;
  /** Successful sends + receives, where the layer counts them. */
  count(): number | null;
  /** Save to JSON and restore into a fresh object (what an agent does across restarts). */
  persist(): void;
  readonly supportsAd: boolean;
}

class RatchetEndpoint implements Endpoint {
  readonly supportsAd = true;
  constructor(
    private ratchet: DoubleRatchet,
    private readonly ad: Uint8Array,
    private readonly crypto: CryptoProvider,
  ) {}
  send(plaintext: Uint8Array) {
    return this.ratchet.encrypt(plaintext, this.ad);
  }
  async receive(input: EncryptedMessage | Uint8Array, wrongAd?: number) {
    const message = input instanceof EncryptedMessage ? input : EncryptedMessage.deserialize(input);
    let ad = this.ad;
    if (wrongAd !== undefined) {
      ad = new Uint8Array(this.ad);
      const bit = wrongAd % (ad.length * 8);
      ad[bit >> 3]! ^= 1 << (bit & 7);
    }
    return this.ratchet.decrypt(message, ad);
  }
  stateJson() {
    return JSON.stringify(this.ratchet.state.toDict());
  }
  count() {
    return null;
  }
  persist() {
    const text = this.stateJson();
    const restored = RatchetState.fromDict(JSON.parse(text));
    expect(JSON.stringify(restored.toDict())).toBe(text);
    this.ratchet = new DoubleRatchet(restored, { crypto: this.crypto });
  }
}

class ChannelEndpoint implements Endpoint {
  readonly supportsAd = false;
  constructor(
    private channel: SecureChannel,
    private readonly crypto: CryptoProvider,
  ) {}
  send(plaintext: Uint8Array) {
    return this.channel.send(plaintext);
  }
  receive(input: EncryptedMessage | Uint8Array) {
    return this.channel.receive(input);
  }
  stateJson() {
    return JSON.stringify(this.channel.state.toDict());
  }
  count() {
    return this.channel.messageCount;
  }
  persist() {
    const snapshot = this.channel.snapshot();
    const text = JSON.stringify(snapshot.state);
    const restored = SecureChannel.restore({ ...snapshot, state: JSON.parse(text) }, { crypto: this.crypto });
    expect(JSON.stringify(restored.state.toDict())).toBe(text);
    expect(restored.messageCount).toBe(this.channel.messageCount);
    this.channel = restored;
  }
}

async function keyManager(crypto: CryptoProvider): Promise<X3DHKeyManager> {
  const seed = crypto.randomBytes(32);
  const pub = await crypto.ed25519PublicKey(seed);
  return X3DHKeyManager.fromEd25519Keys(concatBytes(seed, pub), pub, { crypto });
}

async function makePair(layer: Layer, crypto: CryptoProvider, limits: Limits, ad: Uint8Array): Promise<Record<Party, Endpoint>> {
  if (layer === 'ratchet') {
    const shared = crypto.randomBytes(32);
    const bobPair = await crypto.x25519GenerateKeyPair();
    const alice = await DoubleRatchet.initSender({ sharedSecret: shared, remoteDhPublic: bobPair.publicKey }, { crypto, ...limits });
    const bob = DoubleRatchet.initReceiver({ sharedSecret: shared, dhKeyPair: bobPair }, { crypto, ...limits });
    return { A: new RatchetEndpoint(alice, ad, crypto), B: new RatchetEndpoint(bob, ad, crypto) };
  }
  const [aliceMgr, bobMgr] = [await keyManager(crypto), await keyManager(crypto)];
  await bobMgr.generateSignedPreKey();
  const [otk] = await bobMgr.generateOneTimePreKeys(1);
  // Both the bundle and the establishment go through their JSON codecs, as over a network.
  const bundle = decodeBundle(JSON.stringify(encodeBundle(bobMgr.getPublicBundle(otk!.keyId))));
  const [alice, establishment] = await SecureChannel.createSender(aliceMgr, bundle, ad, { crypto, ...limits });
  const received = decodeEstablishment(JSON.stringify(encodeEstablishment(establishment)));
  const bob = await SecureChannel.createReceiver(bobMgr, received, ad, { crypto, ...limits });
  return { A: new ChannelEndpoint(alice, crypto), B: new ChannelEndpoint(bob, crypto) };
}

// ---------------------------------------------------------------------------------------------
// The model. A party's sending chains are numbered epochs: A starts in epoch 0; a party moves
// to its next epoch each time it accepts a message from a new epoch of its peer.

interface Sent {
  readonly id: number;
  readonly from: Party;
  readonly epoch: number;
  readonly n: number;
  readonly pn: number;
  readonly plaintext: Uint8Array;
  readonly message: EncryptedMessage;
  readonly wire: Bytes;
  decrypts: number;
  dropped: boolean;
}

interface PartyModel {
  sendEpoch: number | null;
  sendN: number;
  sendPn: number;
  /** The peer's epoch whose chain is the current receiving chain. */
  remoteEpoch: number | null;
  recvN: number;
  /** `${epoch}:${n}` of the peer's messages whose keys are cached, oldest first. */
  cache: Map<string, true>;
  /** Successful sends + receives. */
  count: number;
}

type ErrorClass = new (...args: never[]) => AgentMeshError;
type Prediction = { ok: true; commit: () => void } | { ok: false; error: ErrorClass };

function newModel(sendEpoch: number | null): PartyModel {
  return { sendEpoch, sendN: 0, sendPn: 0, remoteEpoch: null, recvN: 0, cache: new Map(), count: 0 };
}

/** What the receiver `m` must do with genuine message `s`; `commit` applies an acceptance. */
function predict(m: PartyModel, s: Sent, limits: Limits): Prediction {
  const slot = (epoch: number, n: number) => `${epoch}:${n}`;
  const evict = () => {
    for (const key of m.cache.keys()) {
      if (m.cache.size <= limits.maxSkippedKeys) break;
      m.cache.delete(key);
    }
  };
  const accepted = () => {
    m.count += 1;
  };
  if (m.cache.has(slot(s.epoch, s.n))) {
    return { ok: true, commit: () => (m.cache.delete(slot(s.epoch, s.n)), accepted()) };
  }
  if (m.remoteEpoch === s.epoch) {
    if (s.n < m.recvN) return { ok: false, error: ReplayedMessageError };
    if (s.n - m.recvN > limits.maxSkip) return { ok: false, error: TooManySkippedMessagesError };
    return {
      ok: true,
      commit: () => {
        for (let i = m.recvN; i < s.n; i++) m.cache.set(slot(s.epoch, i), true);
        m.recvN = s.n + 1;
        evict();
        accepted();
      },
    };
  }
  // A different chain: first the rest of the current one is skipped up to pn.
  if (m.remoteEpoch !== null && s.pn - m.recvN > limits.maxSkip) return { ok: false, error: TooManySkippedMessagesError };
  const next = m.remoteEpoch === null ? 0 : m.remoteEpoch + 1;
  if (s.epoch !== next) {
    // An older chain whose key is gone: a DH step on a stale key, then the AEAD check fails.
    if (s.epoch > next) throw new Error(`model: epoch ${s.epoch} cannot arrive while the receiver is at ${m.remoteEpoch}`);
    return { ok: false, error: s.n > limits.maxSkip ? TooManySkippedMessagesError : AuthenticationError };
  }
  if (s.n > limits.maxSkip) return { ok: false, error: TooManySkippedMessagesError };
  return {
    ok: true,
    commit: () => {
      if (m.remoteEpoch !== null) for (let i = m.recvN; i < s.pn; i++) m.cache.set(slot(m.remoteEpoch, i), true);
      m.remoteEpoch = s.epoch;
      for (let i = 0; i < s.n; i++) m.cache.set(slot(s.epoch, i), true);
      m.recvN = s.n + 1;
      evict();
      // The DH ratchet step also starts this party's next sending chain.
      m.sendPn = m.sendEpoch === null ? 0 : m.sendN;
      m.sendN = 0;
      m.sendEpoch = m.sendEpoch === null ? 0 : m.sendEpoch + 1;
      accepted();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Schedules

type Via = 'wire' | 'frame' | 'object';

type Tamper =
  | { k: 'flipHeader'; bit: number }
  | { k: 'flipCiphertext'; bit: number }
  | { k: 'flipLengthPrefix'; bit: number }
  | { k: 'truncate'; keep: number }
  | { k: 'extend'; extra: Uint8Array }
  | { k: 'swapHeader'; other: number }
  | { k: 'randomHeader'; dh: Uint8Array; pn: number; n: number }
  | { k: 'forgeCounters'; pn: number; n: number }
  | { k: 'lowOrder'; point: number; pn: number; n: number }
  | { k: 'cachedSlot'; slot: number; how: 'flip' | 'random' | 'other' | 'pn'; bit: number; bytes: Uint8Array }
  | { k: 'wrongAd'; bit: number }
  | { k: 'garbage'; bytes: Uint8Array };

type Step =
  | { t: 'send'; from: Party; size: number }
  | { t: 'deliver'; to: Party; pick: number; dup: boolean; via: Via }
  | { t: 'burst'; to: Party; picks: number[] }
  | { t: 'drop'; to: Party; pick: number }
  | { t: 'tamper'; to: Party; pick: number; how: Tamper }
  | { t: 'persist'; who: Party };

const party = fc.constantFrom<Party>('A', 'B');
const counter = fc.oneof(
  { arbitrary: fc.nat({ max: 12 }), weight: 4 },
  { arbitrary: fc.nat({ max: 300 }), weight: 2 },
  { arbitrary: fc.constantFrom(0xffffffff, 0x80000000, 2 ** 31 - 1), weight: 1 },
);

const tamperArb: fc.Arbitrary<Tamper> = fc.oneof(
  fc.record({ k: fc.constant('flipHeader' as const), bit: fc.nat({ max: 319 }) }),
  fc.record({ k: fc.constant('flipCiphertext' as const), bit: fc.nat() }),
  fc.record({ k: fc.constant('flipLengthPrefix' as const), bit: fc.nat({ max: 31 }) }),
  fc.record({ k: fc.constant('truncate' as const), keep: fc.nat() }),
  fc.record({ k: fc.constant('extend' as const), extra: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.record({ k: fc.constant('swapHeader' as const), other: fc.nat() }),
  fc.record({ k: fc.constant('randomHeader' as const), dh: fc.uint8Array({ minLength: 32, maxLength: 32 }), pn: counter, n: counter }),
  fc.record({ k: fc.constant('forgeCounters' as const), pn: counter, n: counter }),
  fc.record({
    k: fc.constant('lowOrder' as const),
    point: fc.nat({ max: LOW_ORDER.length - 1 }),
    pn: fc.oneof(fc.constant(0), counter),
    n: counter,
  }),
  {
    arbitrary: fc.record({
      k: fc.constant('cachedSlot' as const),
      slot: fc.nat(),
      how: fc.constantFrom('flip' as const, 'random' as const, 'other' as const, 'pn' as const),
      bit: fc.nat(),
      bytes: fc.uint8Array({ minLength: 28, maxLength: 80 }),
    }),
    weight: 3,
  },
  fc.record({ k: fc.constant('wrongAd' as const), bit: fc.nat() }),
  fc.record({ k: fc.constant('garbage' as const), bytes: fc.uint8Array({ maxLength: 120 }) }),
);

function stepArb(sendWeight: number): fc.Arbitrary<Step> {
  return fc.oneof(
    { arbitrary: fc.record({ t: fc.constant('send' as const), from: party, size: fc.nat({ max: 48 }) }), weight: sendWeight },
    {
      arbitrary: fc.record({
        t: fc.constant('deliver' as const),
        to: party,
        pick: fc.nat(),
        dup: fc.nat({ max: 5 }).map((x) => x === 0),
        via: fc.constantFrom<Via>('wire', 'frame', 'object'),
      }),
      weight: 5,
    },
    {
      arbitrary: fc.record({ t: fc.constant('burst' as const), to: party, picks: fc.array(fc.nat(), { minLength: 2, maxLength: 5 }) }),
      weight: 1,
    },
    { arbitrary: fc.record({ t: fc.constant('drop' as const), to: party, pick: fc.nat() }), weight: 1 },
    { arbitrary: fc.record({ t: fc.constant('tamper' as const), to: party, pick: fc.nat(), how: tamperArb }), weight: 4 },
    { arbitrary: fc.record({ t: fc.constant('persist' as const), who: party }), weight: 1 },
  );
}

// ---------------------------------------------------------------------------------------------
// Running a schedule

function flipBit(bytes: Uint8Array, bit: number): Bytes {
  const out = new Uint8Array(bytes) as Bytes;
  const b = bit % (out.length * 8);
  out[b >> 3]! ^= 1 << (b & 7);
  return out;
}

/** Encodes a header + ciphertext field without the constructor's checks (forgeries may break them). */
function rawWire(dh: Uint8Array, pn: number, n: number, ciphertext: Uint8Array): Bytes {
  const out = new Uint8Array(4 + 40 + ciphertext.length) as Bytes;
  const view = new DataView(out.buffer);
  view.setUint32(0, 40);
  out.set(dh, 4);
  view.setUint32(36, pn);
  view.setUint32(40, n);
  out.set(ciphertext, 44);
  return out;
}

function plaintextFor(id: number, from: Party, size: number): Uint8Array {
  const tag = utf8(`${from}#${id}|`);
  const filler = new Uint8Array(size);
  for (let i = 0; i < size; i++) filler[i] = (id * 31 + i * 7) & 0xff;
  return concatBytes(tag, filler);
}

async function outcome<T>(promise: Promise<T>): Promise<{ value: T } | { error: unknown }> {
  try {
    return { value: await promise };
  } catch (error) {
    return { error };
  }
}

interface World {
  layer: Layer;
  limits: Limits;
  ends: Record<Party, Endpoint>;
  models: Record<Party, PartyModel>;
  sent: Sent[];
  /** Per party, the ratchet public key of each of its epochs (hex). */
  dhOf: Record<Party, string[]>;
  /** How many bad inputs were refused, by kind (a sanity check that the schedules exercise them). */
  stats: Map<string, number>;
}

async function newWorld(layer: Layer, preset: CryptoPreset, limits: Limits): Promise<World> {
  const crypto = createCryptoProvider(preset);
  const ad = crypto.randomBytes(1 + (crypto.randomBytes(1)[0]! % 40));
  return {
    layer,
    limits,
    ends: await makePair(layer, crypto, limits, ad),
    models: { A: newModel(0), B: newModel(null) },
    sent: [],
    dhOf: { A: [], B: [] },
    stats: new Map(),
  };
}

function checkCount(w: World, p: Party): void {
  const c = w.ends[p].count();
  if (c !== null) expect(c).toBe(w.models[p].count);
}

async function doSend(w: World, from: Party, size: number): Promise<Sent | null> {
  const model = w.models[from];
  const end = w.ends[from];
  if (model.sendEpoch === null) {
    // The responder has no sending chain before it has received: refused, nothing changes.
    const before = end.stateJson();
    const r = await outcome(end.send(utf8('too early')));
    expect('error' in r && r.error).toBeInstanceOf(RatchetStateError);
    expect(end.stateJson()).toBe(before);
    return null;
  }
  const id = w.sent.length;
  const plaintext = plaintextFor(id, from, size);
  const message = await end.send(plaintext);
  expect(message.header.messageNumber).toBe(model.sendN);
  expect(message.header.previousChainLength).toBe(model.sendPn);
  const dh = toHex(message.header.dhPublicKey);
  const known = w.dhOf[from];
  if (known.length === model.sendEpoch) {
    expect(known).not.toContain(dh); // a new chain has a new ratchet key
    known.push(dh);
  } else {
    expect(known[model.sendEpoch]).toBe(dh);
  }
  const s: Sent = {
    id,
    from,
    epoch: model.sendEpoch,
    n: model.sendN,
    pn: model.sendPn,
    plaintext,
    message,
    wire: message.serialize(),
    decrypts: 0,
    dropped: false,
  };
  w.sent.push(s);
  model.sendN += 1;
  model.count += 1;
  checkCount(w, from);
  return s;
}

function inputFor(s: Sent, via: Via): EncryptedMessage | Uint8Array {
  if (via === 'wire') return new Uint8Array(s.wire);
  if (via === 'frame') return EncryptedMessage.fromFrame(JSON.stringify(s.message.toFrame()));
  return s.message;
}

/** Checks one genuine delivery (already started) against the model's prediction. */
async function settleGenuine(w: World, to: Party, s: Sent, prediction: Prediction, result: Promise<Uint8Array>, before: string | null) {
  const r = await outcome(result);
  if (prediction.ok) {
    if ('error' in r) throw new Error(`genuine message ${s.from}#${s.id} (epoch ${s.epoch}, n ${s.n}) refused: ${String(r.error)}`);
    expect(toHex(r.value)).toBe(toHex(s.plaintext));
    s.decrypts += 1;
    expect(s.decrypts).toBe(1);
  } else {
    if ('value' in r) throw new Error(`message ${s.from}#${s.id} decrypted although the model expected ${prediction.error.name}`);
    expect(r.error).toBeInstanceOf(prediction.error);
    if (before !== null) expect(w.ends[to].stateJson()).toBe(before);
    const kind = `genuine refused: ${prediction.error.name}${s.decrypts > 0 ? ' (duplicate)' : ''}`;
    w.stats.set(kind, (w.stats.get(kind) ?? 0) + 1);
  }
}

async function deliverGenuine(w: World, to: Party, s: Sent, via: Via): Promise<boolean> {
  const before = w.ends[to].stateJson();
  const prediction = predict(w.models[to], s, w.limits);
  if (prediction.ok) prediction.commit();
  await settleGenuine(w, to, s, prediction, w.ends[to].receive(inputFor(s, via)), before);
  checkCount(w, to);
  return prediction.ok;
}

/** Delivers a bad input; it must be refused with a typed error and change nothing. */
async function deliverBad(
  w: World,
  to: Party,
  kind: string,
  make: () => EncryptedMessage | Uint8Array,
  opts: { wrongAd?: number; expect?: ErrorClass } = {},
): Promise<void> {
  const end = w.ends[to];
  const before = end.stateJson();
  const countBefore = end.count();
  const r = await outcome((async () => end.receive(make(), opts.wrongAd))());
  if ('value' in r) throw new Error(`bad input (${kind}) was accepted`);
  if (!(r.error instanceof AgentMeshError)) throw new Error(`bad input (${kind}) raised an untyped error: ${String(r.error)}`);
  if (opts.expect) expect(r.error, kind).toBeInstanceOf(opts.expect);
  expect(end.stateJson(), `state changed after ${kind}`).toBe(before);
  expect(end.count()).toBe(countBefore);
  w.stats.set(kind, (w.stats.get(kind) ?? 0) + 1);
}

function toParty(w: World, to: Party): Sent[] {
  return w.sent.filter((s) => s.from === peerOf(to));
}

async function tamper(w: World, to: Party, pick: number, how: Tamper): Promise<void> {
  const pool = toParty(w, to);
  if (how.k === 'garbage') return deliverBad(w, to, how.k, () => how.bytes);
  if (pool.length === 0) return;
  const s = pool[pick % pool.length]!;
  const { dhPublicKey: dh, previousChainLength: pn, messageNumber: n } = s.message.header;
  const ct = s.message.ciphertext;
  switch (how.k) {
    case 'flipHeader':
      return deliverBad(w, to, how.k, () => flipBit(s.wire, 32 + how.bit));
    case 'flipCiphertext':
      return deliverBad(w, to, how.k, () => flipBit(s.wire, 44 * 8 + (how.bit % (ct.length * 8))));
    case 'flipLengthPrefix':
      return deliverBad(w, to, how.k, () => flipBit(s.wire, how.bit));
    case 'truncate':
      return deliverBad(w, to, how.k, () => s.wire.slice(0, how.keep % s.wire.length));
    case 'extend':
      return deliverBad(w, to, how.k, () => concatBytes(s.wire, how.extra));
    case 'swapHeader': {
      const others = w.sent.filter((o) => o !== s);
      if (others.length === 0) return;
      const o = others[how.other % others.length]!.message.header;
      return deliverBad(w, to, how.k, () => rawWire(o.dhPublicKey, o.previousChainLength, o.messageNumber, ct));
    }
    case 'randomHeader':
      return deliverBad(w, to, how.k, () => rawWire(how.dh, how.pn, how.n, ct));
    case 'forgeCounters': {
      const [fpn, fn] = how.pn === pn && how.n === n ? [pn, (n + 1) >>> 0] : [how.pn, how.n];
      return deliverBad(w, to, how.k, () => rawWire(dh, fpn, fn, ct));
    }
    case 'lowOrder':
      // With pn = 0 nothing is skipped first, so the DH step itself must refuse the key.
      return deliverBad(w, to, how.k, () => rawWire(LOW_ORDER[how.point]!, how.pn, how.n, ct), {
        expect: how.pn === 0 ? InvalidKeyError : undefined,
      });
    case 'cachedSlot': {
      const slots = [...w.models[to].cache.keys()];
      if (slots.length === 0) return;
      const [epoch, num] = slots[how.slot % slots.length]!.split(':').map(Number);
      const target = pool.find((x) => x.epoch === epoch && x.n === num)!;
      expect(target.decrypts).toBe(0);
      const h = target.message.header;
      const tct = target.message.ciphertext;
      let forged: Bytes;
      if (how.how === 'flip') forged = rawWire(h.dhPublicKey, h.previousChainLength, h.messageNumber, flipBit(tct, how.bit));
      else if (how.how === 'random') forged = rawWire(h.dhPublicKey, h.previousChainLength, h.messageNumber, how.bytes);
      else if (how.how === 'pn') forged = rawWire(h.dhPublicKey, (h.previousChainLength + 1 + (how.bit % 1000)) >>> 0, h.messageNumber, tct);
      else {
        const o = w.sent.filter((x) => x !== target);
        if (o.length === 0) return;
        forged = rawWire(h.dhPublicKey, h.previousChainLength, h.messageNumber, o[how.bit % o.length]!.message.ciphertext);
      }
      // The cached key is tried and must stay cached: the genuine message still decrypts later.
      return deliverBad(w, to, `cachedSlot:${how.how}`, () => forged, { expect: AuthenticationError });
    }
    case 'wrongAd': {
      if (!w.ends[to].supportsAd) return;
      // A genuine message the receiver would accept fails only the AEAD check.
      const accept = predict(w.models[to], s, w.limits).ok;
      return deliverBad(w, to, how.k, () => s.message, { wrongAd: how.bit, expect: accept ? AuthenticationError : undefined });
    }
  }
}

async function runStep(w: World, step: Step): Promise<void> {
  switch (step.t) {
    case 'send':
      await doSend(w, step.from, step.size);
      return;
    case 'deliver': {
      const pool = toParty(w, step.to).filter((s) => !s.dropped && (step.dup ? s.decrypts > 0 : s.decrypts === 0));
      if (pool.length === 0) return;
      await deliverGenuine(w, step.to, pool[step.pick % pool.length]!, step.via);
      return;
    }
    case 'burst': {
      // Several deliveries in flight at once: the ratchet serializes them in call order.
      const pool = toParty(w, step.to).filter((s) => !s.dropped && s.decrypts === 0);
      const chosen: Sent[] = [];
      for (const p of step.picks) {
        if (pool.length === 0) break;
        chosen.push(pool.splice(p % pool.length, 1)[0]!);
      }
      const pending = chosen.map((s) => {
        const prediction = predict(w.models[step.to], s, w.limits);
        if (prediction.ok) prediction.commit();
        return { s, prediction, result: w.ends[step.to].receive(s.message) };
      });
      for (const { s, prediction, result } of pending) await settleGenuine(w, step.to, s, prediction, result, null);
      checkCount(w, step.to);
      return;
    }
    case 'drop': {
      const pool = toParty(w, step.to).filter((s) => !s.dropped && s.decrypts === 0);
      if (pool.length > 0) pool[step.pick % pool.length]!.dropped = true;
      return;
    }
    case 'tamper':
      await tamper(w, step.to, step.pick, step.how);
      return;
    case 'persist':
      w.ends[step.who].persist();
      checkCount(w, step.who);
      return;
  }
}

/**
 * After the schedule: everything not dropped is delivered (newest first, the hardest order),
 * then each side sends one more message, which must arrive.
 */
async function finish(w: World, strict: boolean): Promise<void> {
  for (const to of ['A', 'B'] as const) {
    const pending = toParty(w, to)
      .filter((s) => !s.dropped && s.decrypts === 0)
      .reverse();
    for (const s of pending) {
      const ok = await deliverGenuine(w, to, s, 'wire');
      if (strict) expect(ok, `message ${s.from}#${s.id} refused by the model`).toBe(true);
    }
  }
  for (const from of ['A', 'B'] as const) {
    const s = await doSend(w, from, 16);
    if (s === null) continue;
    const ok = await deliverGenuine(w, peerOf(from), s, 'wire');
    if (strict) expect(ok).toBe(true);
  }
  if (strict) {
    // Every message not dropped decrypted exactly once; B can now send, A has heard from B.
    for (const s of w.sent) expect(s.decrypts).toBe(s.dropped ? 0 : 1);
    expect(w.models.B.sendEpoch).not.toBeNull();
  } else {
    for (const s of w.sent) expect(s.decrypts).toBeLessThanOrEqual(1);
  }
}

// ---------------------------------------------------------------------------------------------

describe('low-order ratchet keys (precondition of the schedules)', () => {
  it.each(Object.keys(CRYPTO_PRESETS) as CryptoPreset[])('every listed point is refused by X25519 (%s)', async (preset) => {
    const crypto = createCryptoProvider(preset);
    const priv = crypto.randomBytes(32);
    for (const point of LOW_ORDER) await expect((async () => crypto.x25519(priv, point))()).rejects.toBeInstanceOf(InvalidKeyError);
    const peer = await crypto.x25519GenerateKeyPair();
    expect((await crypto.x25519(priv, peer.publicKey)).length).toBe(32);
  });
});

// Fixed schedules run first (fast-check `examples`), so that every kind of bad input and every
// kind of refusal is exercised on every run, whatever the seed.
const send = (from: Party): Step => ({ t: 'send', from, size: 5 });
const deliver = (to: Party, pick: number, via: Via = 'wire', dup = false): Step => ({ t: 'deliver', to, pick, dup, via });
const bad = (to: Party, how: Tamper, pick = 0): Step => ({ t: 'tamper', to, pick, how });
const BAD_KINDS: Tamper[] = [
  { k: 'flipHeader', bit: 7 },
  { k: 'flipHeader', bit: 300 },
  { k: 'flipCiphertext', bit: 0 },
  { k: 'flipCiphertext', bit: 1000 },
  { k: 'flipLengthPrefix', bit: 3 },
  { k: 'truncate', keep: 50 },
  { k: 'extend', extra: Uint8Array.of(0) },
  { k: 'swapHeader', other: 1 },
  { k: 'randomHeader', dh: new Uint8Array(32).fill(9), pn: 0, n: 0 },
  { k: 'forgeCounters', pn: 0, n: 7 },
  { k: 'lowOrder', point: 2, pn: 0, n: 0 },
  { k: 'wrongAd', bit: 5 },
  { k: 'garbage', bytes: new Uint8Array(60) },
];
const CACHED_SLOT_FORGERIES: Tamper[] = (['flip', 'random', 'other', 'pn'] as const).map((how) => ({
  k: 'cachedSlot',
  slot: 0,
  how,
  bit: 77,
  bytes: new Uint8Array(40).fill(1),
}));
const EXAMPLE_DEFAULT: Step[] = [
  bad('B', { k: 'lowOrder', point: 0, pn: 0, n: 0 }),
  send('B'), // refused: no sending chain yet
  send('A'),
  send('A'),
  send('A'),
  send('A'),
  bad('B', { k: 'lowOrder', point: 9, pn: 0, n: 1 }),
  deliver('B', 3), // A#3 first: keys for 0..2 cached
  ...CACHED_SLOT_FORGERIES.map((how) => bad('B', how)),
  ...BAD_KINDS.map((how) => bad('B', how, 1)),
  deliver('B', 1, 'frame'),
  deliver('B', 0, 'object', true), // a duplicate
  send('B'),
  send('B'),
  send('B'),
  { t: 'persist', who: 'A' },
  deliver('A', 2),
  ...CACHED_SLOT_FORGERIES.map((how) => bad('A', how)),
  ...BAD_KINDS.map((how) => bad('A', how, 2)),
  send('A'),
  send('A'),
  { t: 'drop', to: 'B', pick: 1 },
  { t: 'persist', who: 'B' },
  { t: 'burst', to: 'B', picks: [2, 0, 0] },
  deliver('A', 0),
];
const EXAMPLE_TIGHT: [Limits, Step[]] = [
  { maxSkip: 2, maxSkippedKeys: 1 },
  [
    send('A'),
    send('A'),
    send('A'),
    send('A'),
    send('A'),
    deliver('B', 4), // A#4 would skip 4 > 2: refused
    deliver('B', 2), // A#2 caches 0 and 1; the cap of 1 evicts 0
    deliver('B', 0), // A#0's key is gone: refused as a replay
    deliver('B', 1), // A#1 from the cache
    send('B'),
    send('B'),
    send('B'),
    send('B'),
    deliver('A', 3), // B#3: skip 3 > 2 refused
    deliver('A', 2),
    send('A'),
    deliver('B', 2), // A's new chain: pn = 5, B is at 3, skipping 2 is allowed
  ],
];

describe.each(['ratchet', 'channel'] as const)('random hostile schedules (%s)', (layer) => {
  it(
    'default limits: every message not dropped decrypts exactly once, every bad input is refused without a trace',
    async () => {
      // At most 90 steps, so no chain reaches the skip limit of 100: every genuine message must
      // be accepted on its first delivery, whatever the order.
      const totals = new Map<string, number>();
      await fc.assert(
        fc.asyncProperty(fc.array(stepArb(4), { maxLength: 90, size: 'max' }), async (steps) => {
          const w = await newWorld(layer, 'fast', DEFAULT_LIMITS);
          for (const step of steps) {
            if (step.t === 'deliver' && !step.dup) {
              const pool = toParty(w, step.to).filter((s) => !s.dropped && s.decrypts === 0);
              if (pool.length > 0) {
                const s = pool[step.pick % pool.length]!;
                expect(await deliverGenuine(w, step.to, s, step.via), `first delivery of ${s.from}#${s.id}`).toBe(true);
                continue;
              }
            }
            await runStep(w, step);
          }
          await finish(w, true);
          for (const [k, v] of w.stats) totals.set(k, (totals.get(k) ?? 0) + v);
        }),
        { ...params(layer === 'ratchet' ? 40 : 25), examples: [[EXAMPLE_DEFAULT]] },
      );
      // Every kind of bad input was exercised (a guard against a silently idle harness).
      const expected = [...BAD_KINDS, ...CACHED_SLOT_FORGERIES].map((t) => (t.k === 'cachedSlot' ? `cachedSlot:${t.how}` : t.k));
      for (const kind of expected) {
        if (kind === 'wrongAd' && layer === 'channel') continue;
        expect(totals.get(kind) ?? 0, kind).toBeGreaterThan(0);
      }
      expect(totals.get('genuine refused: ReplayedMessageError (duplicate)') ?? 0).toBeGreaterThan(0);
    },
    TIMEOUT,
  );

  it(
    'tight limits: skip refusals and cache eviction happen exactly as modelled, nothing else is lost',
    async () => {
      const limits = fc.record({ maxSkip: fc.nat({ max: 6 }), maxSkippedKeys: fc.nat({ max: 8 }) });
      const totals = new Map<string, number>();
      await fc.assert(
        fc.asyncProperty(limits, fc.array(stepArb(6), { maxLength: 70, size: 'max' }), async (lim, steps) => {
          const w = await newWorld(layer, 'fast', lim);
          for (const step of steps) await runStep(w, step);
          await finish(w, false);
          for (const [k, v] of w.stats) totals.set(k, (totals.get(k) ?? 0) + v);
        }),
        { ...params(layer === 'ratchet' ? 40 : 20), examples: [EXAMPLE_TIGHT] },
      );
      expect(totals.get('genuine refused: TooManySkippedMessagesError') ?? 0).toBeGreaterThan(0);
      // A message whose cached key was evicted is lost, and refused as a replay.
      expect(totals.get('genuine refused: ReplayedMessageError') ?? 0).toBeGreaterThan(0);
    },
    TIMEOUT,
  );
});

describe('random schedules under every backend', () => {
  it.each(Object.keys(CRYPTO_PRESETS) as CryptoPreset[])(
    '%s',
    async (preset) => {
      await fc.assert(
        fc.asyncProperty(fc.array(stepArb(4), { maxLength: 40, size: 'max' }), async (steps) => {
          const w = await newWorld('ratchet', preset, DEFAULT_LIMITS);
          for (const step of steps) await runStep(w, step);
          await finish(w, true);
        }),
        params(6),
      );
    },
    TIMEOUT,
  );
});

// ---------------------------------------------------------------------------------------------
// Persistence: a restored state behaves exactly like the original. With the randomness made
// deterministic (and forked at the snapshot), the original and the restored copies must emit
// the same bytes and reach the same states, step for step.

function forkableRandom(seed: Uint8Array) {
  let counter = 0;
  const draw = (at: number, length: number) => {
    const k = new Uint8Array(8);
    new DataView(k.buffer).setBigUint64(0, BigInt(at), false);
    return shake256(concatBytes(seed, k), { dkLen: length });
  };
  return {
    random: (length: number) => draw(++counter, length),
    /** A second source that continues from the current position independently. */
    fork() {
      let c = counter;
      return (length: number) => draw(++c, length);
    },
  };
}

type Op = { t: 'send'; from: Party; size: number } | { t: 'deliver'; to: Party; pick: number };
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ t: fc.constant('send' as const), from: party, size: fc.nat({ max: 40 }) }),
  fc.record({ t: fc.constant('deliver' as const), to: party, pick: fc.nat() }),
);

describe('RatchetState toDict/fromDict mid-conversation', () => {
  it.each(['fast', 'baseline'] as const)(
    'a restored pair continues the conversation byte for byte like the original (%s)',
    async (preset) => {
      await fc.assert(
        fc.asyncProperty(
          fc.uint8Array({ minLength: 32, maxLength: 32 }),
          fc.array(opArb, { maxLength: 30, size: 'max' }),
          fc.array(opArb, { minLength: 1, maxLength: 30, size: 'max' }),
          async (seed, prefix, rest) => {
            const rngA = forkableRandom(concatBytes(seed, Uint8Array.of(1)));
            const rngB = forkableRandom(concatBytes(seed, Uint8Array.of(2)));
            const provider = (random: (n: number) => Uint8Array) => createCryptoProvider({ ...CRYPTO_PRESETS[preset], random });
            const cA = provider(rngA.random);
            const cB = provider(rngB.random);
            const shared = cA.randomBytes(32);
            const bobPair = await cB.x25519GenerateKeyPair();
            const ad = utf8('did:agentmesh:a|did:agentmesh:b');
            const orig: Record<Party, DoubleRatchet> = {
              A: await DoubleRatchet.initSender({ sharedSecret: shared, remoteDhPublic: bobPair.publicKey }, { crypto: cA }),
              B: DoubleRatchet.initReceiver({ sharedSecret: shared, dhKeyPair: bobPair }, { crypto: cB }),
            };
            // In flight, per receiver: [wire, plaintext].
            const inflight: Record<Party, [Bytes, Uint8Array][]> = { A: [], B: [] };
            let id = 0;
            const apply = async (r: Record<Party, DoubleRatchet>, op: Op, queue: Record<Party, [Bytes, Uint8Array][]>) => {
              if (op.t === 'send') {
                if (!r[op.from].state.chainKeySend) return 'skip';
                const pt = plaintextFor(id++, op.from, op.size);
                const wire = (await r[op.from].encrypt(pt, ad)).serialize();
                queue[peerOf(op.from)].push([wire, pt]);
                return toHex(wire);
              }
              const q = queue[op.to];
              if (q.length === 0) return 'skip';
              const [wire, pt] = q.splice(op.pick % q.length, 1)[0]!;
              const got = await r[op.to].decrypt(EncryptedMessage.deserialize(wire), ad);
              expect(toHex(got)).toBe(toHex(pt));
              return toHex(got);
            };
            for (const op of prefix) await apply(orig, op, inflight);

            // Snapshot both parties (JSON text, as stored) and restore with forked randomness.
            const saved = { A: JSON.stringify(orig.A.state.toDict()), B: JSON.stringify(orig.B.state.toDict()) };
            const copy: Record<Party, DoubleRatchet> = {
              A: new DoubleRatchet(RatchetState.fromDict(JSON.parse(saved.A)), { crypto: provider(rngA.fork()) }),
              B: new DoubleRatchet(RatchetState.fromDict(JSON.parse(saved.B)), { crypto: provider(rngB.fork()) }),
            };
            expect(JSON.stringify(copy.A.state.toDict())).toBe(saved.A);
            expect(JSON.stringify(copy.B.state.toDict())).toBe(saved.B);
            const copyInflight: Record<Party, [Bytes, Uint8Array][]> = { A: [...inflight.A], B: [...inflight.B] };

            const idAtSnapshot = id;
            for (const op of rest) {
              const before = id;
              const a = await apply(orig, op, inflight);
              id = before;
              const b = await apply(copy, op, copyInflight);
              expect(b).toBe(a);
              expect(JSON.stringify(copy.A.state.toDict())).toBe(JSON.stringify(orig.A.state.toDict()));
              expect(JSON.stringify(copy.B.state.toDict())).toBe(JSON.stringify(orig.B.state.toDict()));
            }
            expect(id).toBeGreaterThanOrEqual(idAtSnapshot);
            // And everything still in flight reaches the restored copies.
            for (const to of ['A', 'B'] as const) {
              while (copyInflight[to].length > 0) await apply(copy, { t: 'deliver', to, pick: 0 }, copyInflight);
            }
          },
        ),
        params(preset === 'fast' ? 30 : 8),
      );
    },
    TIMEOUT,
  );
});
