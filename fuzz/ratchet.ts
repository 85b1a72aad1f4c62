/**
 * The Double Ratchet under attack, against a shadow that never sees the attack.
 *
 * Each conversation has two parties, and each party exists twice: the real one, which receives
 * everything the network and the attacker deliver, and a shadow, which receives only the genuine
 * messages, in the same order. Real and shadow start from the same keys and draw from random
 * sources seeded alike. A random schedule sends, delivers (out of order, in concurrent bursts),
 * drops, persists and reloads, and mixes in bad input: tampered bytes, replays, reflections,
 * forged headers (counters, ratchet keys, low-order points, keys that force a long skip, the remote
 * key of a party that has no receiving chain from it), forgeries
 * aimed at cached skipped keys, wrong associated data, another session's messages, garbage and,
 * at the session layer, forged and foreign establishments. Checked at every step:
 *
 * - every genuine message decrypts exactly once, to its own plaintext (the schedule keeps within
 *   the skip limits, so nothing genuine may be refused); a replay never decrypts;
 * - every bad input is refused with an AgentMeshError and decrypts nothing;
 * - the stored state (`toDict()` for the bare ratchet, the stored session record for the session
 *   layer) is byte for byte the shadow's: the attack changed nothing, not even which random bytes
 *   the next ratchet step draws; and real and shadow encrypt to identical bytes.
 *
 * A conversation replays from (seed, conversation index).
 */
import { createCryptoProvider, CRYPTO_PRESETS, type CryptoPreset, type CryptoProvider, type CryptoProviderOptions } from '../src/crypto/index.js';
import { concatBytes, fromHex, toHex, utf8, type Bytes } from '../src/encoding.js';
import { AgentMeshError, AuthenticationError, InvalidKeyError, NoReceivingChainError } from '../src/errors.js';
import { AgentIdentity } from '../src/identity/agent-identity.js';
import { DoubleRatchet } from '../src/ratchet/double-ratchet.js';
import { RatchetState } from '../src/ratchet/state.js';
import { SessionManager } from '../src/session/session-manager.js';
import { MemoryAgentStore } from '../src/storage/memory.js';
import { EncryptedMessage } from '../src/wire/encrypted-message.js';
import { encodeEstablishment, type ChannelEstablishment } from '../src/channel/establishment.js';
import { LOW_ORDER_POINTS as LOW_ORDER } from './low-order.js';
import { Rng } from './rng.js';

export type RatchetLayer = 'ratchet' | 'session';

export interface RatchetFuzzOptions {
  seed: number;
  /** Schedule steps in all (each is one send, delivery, attack, drop or reload). */
  steps: number;
  /** Steps per conversation (default 300). */
  conversationSteps?: number;
  /** Which layers to run; conversations alternate among them (default both). */
  layers?: readonly RatchetLayer[];
  preset?: CryptoPreset;
  /** Stop after this many failing conversations (default 5). */
  maxFailures?: number;
  onConversation?: (done: { index: number; layer: RatchetLayer; steps: number; totalSteps: number }) => void;
}

export interface RatchetFailure {
  seed: number;
  conversation: number;
  layer: RatchetLayer;
  step: number;
  message: string;
}

export interface RatchetFuzzResult {
  seed: number;
  steps: number;
  conversations: number;
  /** Counts by kind: sends, genuine deliveries, each kind of bad input, reloads. */
  counts: Record<string, number>;
  failures: RatchetFailure[];
}

// ---------------------------------------------------------------------------------------------

const MAX_SKIP = 100;
/** A party stops sending in a chain this long, so that no genuine message can exceed the skip limit. */
const CHAIN_CAP = 80;

type Who = 'A' | 'B';
const other = (p: Who): Who => (p === 'A' ? 'B' : 'A');

class Failure extends Error {}
function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Failure(message);
}

interface Sent {
  readonly id: number;
  readonly from: Who;
  readonly plaintext: Bytes;
  readonly message: EncryptedMessage;
  readonly wire: Bytes;
  delivered: boolean;
  dropped: boolean;
}

/** One party as both layers present it. */
interface Party {
  readonly name: Who;
  send(plaintext: Uint8Array): Promise<EncryptedMessage>;
  receive(input: EncryptedMessage | Uint8Array, options?: { ad?: Uint8Array }): Promise<Uint8Array>;
  /** The persisted state, as text: what must be byte-identical between real and shadow. */
  stored(): Promise<string>;
  reload(): Promise<void>;
  /** Whether this party has a sending chain (the responder has none before it has received). */
  canSend(): Promise<boolean>;
  /** The current chain's next message number and our current ratchet key (hex). */
  chain(): Promise<{ n: number; dh: string }>;
  readonly supportsAd: boolean;
}

class RatchetParty implements Party {
  readonly supportsAd = true;
  constructor(
    readonly name: Who,
    private ratchet: DoubleRatchet,
    private readonly crypto: CryptoProvider,
    private readonly ad: Uint8Array,
  ) {}
  send(plaintext: Uint8Array) {
    return this.ratchet.encrypt(plaintext, this.ad);
  }
  async receive(input: EncryptedMessage | Uint8Array, options: { ad?: Uint8Array } = {}) {
    const message = input instanceof EncryptedMessage ? input : EncryptedMessage.deserialize(input);
    return this.ratchet.decrypt(message, options.ad ?? this.ad);
  }
  async stored() {
    return JSON.stringify(this.ratchet.state.toDict());
  }
  async reload() {
    const text = JSON.stringify(this.ratchet.state.toDict());
    this.ratchet = new DoubleRatchet(RatchetState.fromDict(JSON.parse(text)), { crypto: this.crypto });
  }
  async canSend() {
    return this.ratchet.state.chainKeySend !== null;
  }
  async chain() {
    return { n: this.ratchet.state.sendMessageNumber, dh: toHex(this.ratchet.state.dhSelfPublic) };
  }
}

class SessionParty implements Party {
  readonly supportsAd = false;
  constructor(
    readonly name: Who,
    private manager: SessionManager,
    readonly peerDid: string,
    private readonly reopen: () => Promise<SessionManager>,
    readonly peerEd: Bytes,
  ) {}
  get sessions() {
    return this.manager;
  }
  send(plaintext: Uint8Array) {
    return this.manager.send(this.peerDid, plaintext);
  }
  receive(input: EncryptedMessage | Uint8Array) {
    return this.manager.receive(this.peerDid, input);
  }
  async stored() {
    const r = await this.manager.store.getSession(this.peerDid);
    return JSON.stringify(r ? [r.revision, r.channel, r.metadata, r.trust, r.createdAt, r.updatedAt] : null);
  }
  async reload() {
    this.manager.close();
    this.manager = await this.reopen();
  }
  async canSend() {
    // Both sides have a sending chain once the responder has accepted the opening message.
    return true;
  }
  async chain() {
    const s = await this.ratchetState();
    return { n: s.send_message_number as number, dh: s.dh_self_public as string };
  }
  /** The stored ratchet state of the session's channel (as `RatchetState.toDict()` wrote it). */
  async ratchetState(): Promise<Record<string, unknown>> {
    const r = await this.manager.store.getSession(this.peerDid);
    return (r!.channel as { channels: { state: Record<string, unknown> }[] }).channels[0]!.state;
  }
}

interface World {
  layer: RatchetLayer;
  rng: Rng;
  real: Record<Who, Party>;
  shadow: Record<Who, Party>;
  sent: Sent[];
  /** Messages of another conversation (same layer), for cross-session attacks. */
  foreign: Bytes[];
  counts: Record<string, number>;
  /** Session layer: how the session was opened, for establishment attacks on B. */
  opening?: {
    aliceDid: string;
    aliceEd: Bytes;
    /** Alice's establishment, as it travels. */
    establishment: Record<string, unknown>;
    /** The opening message. */
    wire: Bytes;
    /** A valid establishment and first message from a third agent (Eve) for B. */
    eve: () => Promise<{ establishment: unknown; first: EncryptedMessage }>;
  };
}

const bump = (counts: Record<string, number>, kind: string) => void (counts[kind] = (counts[kind] ?? 0) + 1);

/** The preset's backends with a seeded random source: real and shadow draw the same bytes. */
function provider(preset: CryptoPreset, ...seed: number[]): CryptoProvider {
  const rng = new Rng(...seed);
  const options = (CRYPTO_PRESETS as Record<string, CryptoProviderOptions>)[preset] ?? CRYPTO_PRESETS.fast;
  return createCryptoProvider({ ...options, random: (n) => rng.bytes(n) });
}

async function ratchetWorld(rng: Rng, preset: CryptoPreset): Promise<World> {
  const setup = createCryptoProvider({ curves: 'noble', hashes: 'noble', random: (n) => rng.bytes(n) });
  const shared = setup.randomBytes(32);
  const bobPair = await setup.x25519GenerateKeyPair();
  const ad = setup.randomBytes(1 + rng.int(64));
  const seeds = [rng.u32(), rng.u32()];
  const make = async () => {
    const ca = provider(preset, seeds[0]!);
    const cb = provider(preset, seeds[1]!);
    const a = await DoubleRatchet.initSender({ sharedSecret: shared, remoteDhPublic: bobPair.publicKey }, { crypto: ca });
    const b = DoubleRatchet.initReceiver({ sharedSecret: shared, dhKeyPair: bobPair }, { crypto: cb });
    return { A: new RatchetParty('A', a, ca, ad), B: new RatchetParty('B', b, cb, ad) };
  };
  return { layer: 'ratchet', rng, real: await make(), shadow: await make(), sent: [], foreign: [], counts: {} };
}

async function sessionWorld(rng: Rng, preset: CryptoPreset): Promise<World> {
  const seedA = rng.bytes(32);
  const seedB = rng.bytes(32);
  const seeds = [rng.u32(), rng.u32()];
  const clock = () => 1_700_000_000_000;
  const side = async () => {
    const ca = provider(preset, seeds[0]!);
    const cb = provider(preset, seeds[1]!);
    const storeA = new MemoryAgentStore();
    const storeB = new MemoryAgentStore();
    const alice = await SessionManager.open({ store: storeA, identity: await AgentIdentity.fromSeed(seedA, { crypto: ca }), crypto: ca, now: clock });
    const bob = await SessionManager.open({ store: storeB, identity: await AgentIdentity.fromSeed(seedB, { crypto: cb }), crypto: cb, now: clock });
    await bob.preKeys.rotateSignedPreKey();
    const [otk] = await bob.preKeys.generateOneTimePreKeys(2);
    const establishment = await alice.initiate(bob.did, await bob.preKeys.getPublicBundle(otk!), { associatedData: utf8(`${alice.did}|${bob.did}`) });
    const first = await alice.send(bob.did, utf8('opening message'));
    const opened = await bob.accept(alice.did, establishment, {
      firstMessage: first,
      peerIdentityKeyEd: alice.identityPublicKey,
      associatedData: utf8(`${alice.did}|${bob.did}`),
    });
    check(opened !== null && toHex(opened) === toHex(utf8('opening message')), 'setup: the opening message did not arrive');
    const A = new SessionParty('A', alice, bob.did, () => SessionManager.open({ store: storeA, crypto: ca, now: clock }), bob.identityPublicKey);
    const B = new SessionParty('B', bob, alice.did, () => SessionManager.open({ store: storeB, crypto: cb, now: clock }), alice.identityPublicKey);
    return { parties: { A, B }, establishment, first, alice, bob };
  };
  const real = await side();
  const shadow = await side();
  check((await real.parties.A.stored()) === (await shadow.parties.A.stored()), 'setup: real and shadow initiators differ');
  check((await real.parties.B.stored()) === (await shadow.parties.B.stored()), 'setup: real and shadow responders differ');
  const eveSeed = rng.bytes(32);
  const world: World = {
    layer: 'session',
    rng,
    real: real.parties,
    shadow: shadow.parties,
    sent: [],
    foreign: [],
    counts: {},
  };
  // Eve runs X3DH against Bob's published bundle (no one-time key), then claims to be Alice.
  const eve = async () => {
    const crypto = createCryptoProvider({ curves: 'noble', hashes: 'noble', random: (n) => new Rng(eveSeed[0]!, n, rng.u32()).bytes(n) });
    const eve = await AgentIdentity.fromSeed(eveSeed, { crypto });
    const store = new MemoryAgentStore();
    const manager = await SessionManager.open({ store, identity: eve, crypto, now: clock });
    const bobB = real.parties.B as SessionParty;
    const bundle = await bobB.sessions.preKeys.getPublicBundle();
    const establishment = await manager.initiate(bobB.sessions.did, bundle, { associatedData: utf8(`${real.alice.did}|${bobB.sessions.did}`) });
    const first = await manager.send(bobB.sessions.did, utf8('eve pretending to be alice'));
    manager.close();
    return { establishment: encodeEstablishment(establishment), first };
  };
  world.opening = {
    aliceDid: real.alice.did,
    aliceEd: real.alice.identityPublicKey,
    establishment: encodeEstablishment(real.establishment as ChannelEstablishment) as unknown as Record<string, unknown>,
    wire: real.first.serialize(),
    eve,
  };
  return world;
}

// ---------------------------------------------------------------------------------------------
// Steps

function flip(bytes: Uint8Array, bit: number): Bytes {
  const out = new Uint8Array(bytes) as Bytes;
  const b = bit % (out.length * 8);
  out[b >> 3]! ^= 1 << (b & 7);
  return out;
}

function rawWire(dh: Uint8Array, pn: number, n: number, ciphertext: Uint8Array): Bytes {
  const out = new Uint8Array(44 + ciphertext.length) as Bytes;
  const view = new DataView(out.buffer);
  view.setUint32(0, 40);
  out.set(dh, 4);
  view.setUint32(36, pn >>> 0);
  view.setUint32(40, n >>> 0);
  out.set(ciphertext, 44);
  return out;
}

async function settle<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  try {
    return { ok: true, value: await p };
  } catch (error) {
    return { ok: false, error };
  }
}

async function compare(w: World, who: Who, when: string): Promise<void> {
  const [r, s] = [await w.real[who].stored(), await w.shadow[who].stored()];
  if (r !== s) {
    let at = 0;
    while (at < r.length && r[at] === s[at]) at++;
    throw new Failure(`${when}: ${who}'s stored state differs from the shadow's at character ${at}: …${r.slice(Math.max(0, at - 60), at + 60)}… vs …${s.slice(Math.max(0, at - 60), at + 60)}…`);
  }
}

async function doSend(w: World, from: Who): Promise<void> {
  const real = w.real[from];
  if (!(await real.canSend())) {
    const r = await settle(real.send(utf8('too early')));
    check(!r.ok && r.error instanceof AgentMeshError, `${from}: a send without a sending chain did not fail with a typed error`);
    const s = await settle(w.shadow[from].send(utf8('too early')));
    check(!s.ok, 'shadow sent without a chain');
    bump(w.counts, 'send refused (no chain yet)');
    return;
  }
  // Keep every chain short enough that no genuine message can exceed the skip limit.
  if ((await real.chain()).n >= CHAIN_CAP) return;
  const id = w.sent.length;
  const plaintext = concatBytes(utf8(`${from}#${id}|`), w.rng.bytes(w.rng.size(200)));
  const message = await real.send(plaintext);
  const twin = await w.shadow[from].send(plaintext);
  const wire = message.serialize();
  check(toHex(wire) === toHex(twin.serialize()), `${from}#${id}: real and shadow encrypted to different bytes`);
  w.sent.push({ id, from, plaintext, message, wire, delivered: false, dropped: false });
  bump(w.counts, 'send');
  await compare(w, from, `after send ${from}#${id}`);
}

function undelivered(w: World, to: Who): Sent[] {
  return w.sent.filter((s) => s.from === other(to) && !s.delivered && !s.dropped);
}

/**
 * Receives a genuine message. At the session layer B sometimes receives through `accept` with
 * Alice's establishment, as an agent does while every message still carries it.
 */
async function receiveGenuine(w: World, party: Party, input: EncryptedMessage | Uint8Array, viaAccept: boolean): Promise<Uint8Array> {
  if (!viaAccept || !(party instanceof SessionParty) || !w.opening) return party.receive(input);
  const { aliceDid, aliceEd, establishment } = w.opening;
  const plaintext = await party.sessions.accept(aliceDid, establishment as never, {
    firstMessage: input,
    peerIdentityKeyEd: aliceEd,
    associatedData: utf8(`${aliceDid}|${party.sessions.did}`),
  });
  if (plaintext === null) throw new Failure('accept with a first message returned no plaintext');
  return plaintext;
}

/** Delivers genuine messages to `to`: all of them must decrypt, on the real party and the shadow. */
async function deliverGenuine(w: World, to: Who, batch: Sent[], concurrentBad: (() => Promise<void>)[] = []): Promise<void> {
  const real = w.real[to];
  const rng = w.rng;
  const inputs = batch.map((s) => (rng.chance(0.5) ? new Uint8Array(s.wire) : rng.chance(0.5) ? s.message : EncryptedMessage.fromFrame(JSON.stringify(s.message.toFrame()))));
  const viaAccept = batch.map(() => w.layer === 'session' && to === 'B' && rng.chance(0.2));
  // In a burst, bad inputs run concurrently with the genuine ones; the party serializes them in call order.
  const pending = batch.map((s, i) => settle(receiveGenuine(w, real, inputs[i]!, viaAccept[i]!)));
  const bad = concurrentBad.map((f) => f());
  const results = await Promise.all(pending);
  await Promise.all(bad);
  for (const [i, s] of batch.entries()) {
    const r = results[i]!;
    if (!r.ok) throw new Failure(`genuine ${s.from}#${s.id} (n ${s.message.header.messageNumber}, pn ${s.message.header.previousChainLength}) was refused: ${String(r.error)}`);
    check(toHex(r.value) === toHex(s.plaintext), `genuine ${s.from}#${s.id} decrypted to the wrong plaintext`);
    s.delivered = true;
    bump(w.counts, viaAccept[i] ? 'genuine delivered (through accept)' : 'genuine delivered');
  }
  for (const [i, s] of batch.entries()) {
    const twin = await settle(receiveGenuine(w, w.shadow[to], inputs[i] instanceof Uint8Array ? new Uint8Array(s.wire) : s.message, viaAccept[i]!));
    if (!twin.ok) throw new Failure(`the shadow refused genuine ${s.from}#${s.id}: ${String(twin.error)}`);
    check(toHex(twin.value) === toHex(s.plaintext), `the shadow decrypted ${s.from}#${s.id} to the wrong plaintext`);
  }
  await compare(w, to, `after delivering ${batch.map((s) => `${s.from}#${s.id}`).join(', ')}`);
}

type BadKind =
  | 'flip'
  | 'truncate'
  | 'extend'
  | 'replay'
  | 'reflect'
  | 'counter'
  | 'previous-length'
  | 'ratchet-key'
  | 'other-chain-key'
  | 'low-order'
  | 'long-skip'
  | 'no-receiving-chain'
  | 'cached-slot'
  | 'wrong-ad'
  | 'foreign'
  | 'garbage'
  | 'establishment-replay'
  | 'establishment-forged'
  | 'establishment-eve';

/** Builds one bad input for `to`, or null when the conversation has nothing to build it from. */
async function makeBad(w: World, to: Who, kind: BadKind): Promise<{ input: EncryptedMessage | Uint8Array; ad?: Uint8Array; expect?: new (...a: never[]) => AgentMeshError; run?: () => Promise<unknown> } | null> {
  const rng = w.rng;
  const fromPeer = w.sent.filter((s) => s.from === other(to));
  const any = fromPeer.length > 0 ? rng.pick(fromPeer) : null;
  switch (kind) {
    case 'flip': {
      if (!any) return null;
      let out = any.wire;
      for (let i = 0, k = 1 + rng.int(3); i < k; i++) out = flip(out, rng.u32());
      if (toHex(out) === toHex(any.wire)) out = flip(out, 0);
      return { input: out };
    }
    case 'truncate':
      if (!any) return null;
      return { input: any.wire.slice(0, rng.int(any.wire.length)) };
    case 'extend':
      if (!any) return null;
      return { input: concatBytes(any.wire, rng.bytes(1 + rng.int(40))) };
    case 'replay': {
      const done = fromPeer.filter((s) => s.delivered);
      if (done.length === 0) return null;
      const s = rng.pick(done);
      return { input: rng.chance(0.5) ? new Uint8Array(s.wire) : EncryptedMessage.fromFrame(s.message.toFrame()) };
    }
    case 'reflect': {
      const own = w.sent.filter((s) => s.from === to);
      if (own.length === 0) return null;
      return { input: new Uint8Array(rng.pick(own).wire) };
    }
    case 'counter': {
      if (!any) return null;
      const h = any.message.header;
      const choices = [h.messageNumber + 1, h.messageNumber - 1, rng.int(20), rng.int(MAX_SKIP + 5), h.messageNumber + MAX_SKIP + 1, 0xffffffff, rng.u32()];
      let n = rng.pick(choices) >>> 0;
      if (n === h.messageNumber) n = (n + 1) >>> 0;
      return { input: rawWire(h.dhPublicKey, h.previousChainLength, n, any.message.ciphertext) };
    }
    case 'previous-length': {
      if (!any) return null;
      const h = any.message.header;
      let pn = rng.pick([h.previousChainLength + 1, rng.int(MAX_SKIP + 5), 0xffffffff, rng.u32()]) >>> 0;
      if (pn === h.previousChainLength) pn = (pn + 1) >>> 0;
      return { input: rawWire(h.dhPublicKey, pn, h.messageNumber, any.message.ciphertext) };
    }
    case 'ratchet-key': {
      if (!any) return null;
      // Random bytes (almost always a valid point), or a real public key nobody holds the chain of.
      const dh = rng.chance(0.5) ? rng.bytes(32) : await createCryptoProvider({ curves: 'noble', hashes: 'noble', random: (n) => rng.bytes(n) }).x25519GenerateKeyPair().then((p) => p.publicKey);
      return { input: rawWire(dh, rng.int(8), rng.int(8), any.message.ciphertext) };
    }
    case 'other-chain-key': {
      // A genuine header of one chain over the ciphertext of another message.
      if (fromPeer.length < 2) return null;
      const a = rng.pick(fromPeer);
      const b = rng.pick(fromPeer.filter((s) => s !== a));
      const h = a.message.header;
      return { input: rawWire(h.dhPublicKey, h.previousChainLength, h.messageNumber, b.message.ciphertext) };
    }
    case 'low-order': {
      const ct = any ? any.message.ciphertext : rng.bytes(28 + rng.int(40));
      const pn = rng.chance(0.5) ? 0 : rng.int(MAX_SKIP);
      return { input: rawWire(rng.pick(LOW_ORDER), pn, rng.int(MAX_SKIP), ct), expect: pn === 0 && w.layer === 'ratchet' ? InvalidKeyError : undefined };
    }
    case 'long-skip': {
      // A fresh ratchet key with counters at the skip limit: the receiver derives up to 2 × 100
      // keys on its draft, the tag fails, and nothing of that work may stay.
      const key = await createCryptoProvider({ curves: 'noble', hashes: 'noble', random: (n) => rng.bytes(n) }).x25519GenerateKeyPair();
      const party = w.real[to];
      const state = party instanceof SessionParty ? await party.ratchetState() : (JSON.parse(await party.stored()) as Record<string, unknown>);
      const recvN = state.recv_message_number as number;
      return { input: rawWire(key.publicKey, recvN + rng.int(MAX_SKIP + 1), rng.int(MAX_SKIP + 1), rng.bytes(28 + rng.int(64))) };
    }
    case 'no-receiving-chain': {
      // The remote key the receiver holds while no receiving chain comes from it: the initiator,
      // before the first answer, holds the responder's signed pre-key, on which no genuine peer
      // sends. This once reached a null chain key and threw an untyped TypeError (issue 14, class 8).
      const party = w.real[to];
      const state = party instanceof SessionParty ? await party.ratchetState() : (JSON.parse(await party.stored()) as Record<string, unknown>);
      if (state.chain_key_recv !== null || typeof state.dh_remote_public !== 'string') return null;
      const ct = any && rng.chance(0.5) ? any.message.ciphertext : rng.bytes(28 + rng.int(64));
      const n = rng.chance(0.5) ? 0 : rng.int(MAX_SKIP + 5);
      return { input: rawWire(fromHex(state.dh_remote_public), rng.int(MAX_SKIP + 5), n, ct), expect: NoReceivingChainError };
    }
    case 'cached-slot': {
      // Aimed at a key the receiver holds for a message not yet delivered: same (ratchet key, n),
      // anything else different. The key must stay cached for the genuine message.
      const waiting = undelivered(w, to);
      if (waiting.length === 0) return null;
      const s = rng.pick(waiting);
      const h = s.message.header;
      const ct = s.message.ciphertext;
      const how = rng.int(4);
      let input: Bytes;
      if (how === 0) input = rawWire(h.dhPublicKey, h.previousChainLength, h.messageNumber, flip(ct, rng.u32()));
      else if (how === 1) input = rawWire(h.dhPublicKey, h.previousChainLength, h.messageNumber, rng.bytes(Math.max(28, ct.length + rng.int(9) - 4)));
      else if (how === 2) input = rawWire(h.dhPublicKey, (h.previousChainLength + 1 + rng.int(50)) >>> 0, h.messageNumber, ct);
      else {
        const others = w.sent.filter((x) => x !== s);
        if (others.length === 0) return null;
        input = rawWire(h.dhPublicKey, h.previousChainLength, h.messageNumber, rng.pick(others).message.ciphertext);
      }
      return { input };
    }
    case 'wrong-ad': {
      if (!w.real[to].supportsAd) return null;
      const waiting = undelivered(w, to);
      if (waiting.length === 0) return null;
      return { input: rng.pick(waiting).message, ad: rng.bytes(rng.int(80)) };
    }
    case 'foreign':
      if (w.foreign.length === 0) return null;
      return { input: new Uint8Array(rng.pick(w.foreign)) };
    case 'garbage': {
      const bytes = rng.bytes(rng.size(300));
      if (rng.chance(0.5) && bytes.length >= 4) new DataView(bytes.buffer).setUint32(0, 40);
      return { input: bytes };
    }
    case 'establishment-replay':
    case 'establishment-forged':
    case 'establishment-eve': {
      if (w.layer !== 'session' || to !== 'B' || !w.opening) return null;
      const bob = (w.real.B as SessionParty).sessions;
      const { aliceDid, aliceEd, establishment: genuine } = w.opening;
      let establishment: unknown;
      let firstMessage: EncryptedMessage | Uint8Array;
      if (kind === 'establishment-eve') {
        // A valid establishment and first message, made by Eve, presented as Alice's.
        ({ establishment, first: firstMessage } = await w.opening.eve());
      } else if (kind === 'establishment-replay') {
        // Alice's own establishment again, with a message Bob already decrypted.
        const done = fromPeer.filter((s) => s.delivered);
        establishment = genuine;
        firstMessage = done.length > 0 && rng.chance(0.7) ? rng.pick(done).wire : w.opening.wire;
      } else {
        // Alice's public identity key with an ephemeral key of the attacker's: passes the identity
        // check, and the first message cannot decrypt under a secret the attacker does not hold.
        establishment = {
          ...genuine,
          ephemeral_key: toB64(rng.bytes(32)),
          used_opk_id: rng.pick([null, 0, 1, 2]),
          ...(rng.chance(0.5) ? { spk_id: rng.pick([0, 1]) } : {}),
        };
        firstMessage = any && rng.chance(0.5) ? any.wire : rng.bytes(44 + 28 + rng.int(40));
      }
      return {
        input: new Uint8Array(0),
        run: () => bob.accept(aliceDid, establishment as never, { firstMessage, peerIdentityKeyEd: aliceEd, associatedData: utf8(`${aliceDid}|${bob.did}`) }),
      };
    }
  }
}

function toB64(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

const BAD_KINDS: readonly (readonly [number, BadKind])[] = [
  [3, 'flip'],
  [1, 'truncate'],
  [1, 'extend'],
  [3, 'replay'],
  [1, 'reflect'],
  [2, 'counter'],
  [1, 'previous-length'],
  [2, 'ratchet-key'],
  [1, 'other-chain-key'],
  [2, 'low-order'],
  [1, 'long-skip'],
  [2, 'no-receiving-chain'],
  [4, 'cached-slot'],
  [2, 'wrong-ad'],
  [1, 'foreign'],
  [1, 'garbage'],
  [1, 'establishment-replay'],
  [1, 'establishment-forged'],
  [0.3, 'establishment-eve'],
];

/** Delivers one bad input to the real party only; it must fail typed and change nothing. */
async function deliverBad(w: World, to: Who, kind: BadKind): Promise<(() => Promise<void>) | null> {
  const bad = await makeBad(w, to, kind);
  if (!bad) return null;
  return async () => {
    const before = await w.real[to].stored();
    const r = await settle(bad.run ? bad.run() : w.real[to].receive(bad.input, bad.ad ? { ad: bad.ad } : {}));
    if (r.ok) throw new Failure(`bad input (${kind}) to ${to} was accepted${r.value instanceof Uint8Array ? ` and decrypted ${r.value.length} bytes` : ''}`);
    if (!(r.error instanceof AgentMeshError)) throw new Failure(`bad input (${kind}) to ${to} raised an untyped ${(r.error as Error)?.constructor?.name}: ${String(r.error)}`);
    if (bad.expect && !(r.error instanceof bad.expect)) throw new Failure(`bad input (${kind}) to ${to}: expected ${bad.expect.name}, got ${(r.error as Error).constructor.name}`);
    if (kind === 'cached-slot' && !(r.error instanceof AuthenticationError)) {
      throw new Failure(`a forgery aimed at a cached key gave ${r.error.constructor.name}, not AuthenticationError`);
    }
    check((await w.real[to].stored()) === before, `bad input (${kind}) to ${to} changed the stored state`);
    bump(w.counts, `bad: ${kind}`);
  };
}

async function step(w: World): Promise<void> {
  const rng = w.rng;
  const to: Who = rng.chance(0.5) ? 'A' : 'B';
  const action = rng.weighted<string>([
    [3, 'send'],
    [4, 'deliver'],
    [1, 'burst'],
    [0.4, 'drop'],
    [5, 'bad'],
    [0.3, 'reload'],
  ]);
  switch (action) {
    case 'send':
      return doSend(w, other(to));
    case 'deliver': {
      const waiting = undelivered(w, to);
      if (waiting.length === 0) return;
      return deliverGenuine(w, to, [rng.pick(waiting)]);
    }
    case 'burst': {
      const waiting = undelivered(w, to);
      const batch: Sent[] = [];
      for (let i = 0, k = 1 + rng.int(4); i < k && waiting.length > 0; i++) batch.push(waiting.splice(rng.int(waiting.length), 1)[0]!);
      const bad: (() => Promise<void>)[] = [];
      for (let i = 0, k = rng.int(3); i < k; i++) {
        const kind = rng.weighted(BAD_KINDS.filter(([, k2]) => !k2.startsWith('establishment')));
        // Concurrent bad inputs must not count on an unchanged state around them: check typing only.
        const made = await makeBad(w, to, kind);
        if (made) {
          bad.push(async () => {
            const r = await settle(w.real[to].receive(made.input, made.ad ? { ad: made.ad } : {}));
            if (r.ok) throw new Failure(`concurrent bad input (${kind}) to ${to} was accepted`);
            if (!(r.error instanceof AgentMeshError)) throw new Failure(`concurrent bad input (${kind}) raised an untyped error: ${String(r.error)}`);
            bump(w.counts, `bad (concurrent): ${kind}`);
          });
        }
      }
      if (batch.length === 0 && bad.length === 0) return;
      bump(w.counts, 'burst');
      return deliverGenuine(w, to, batch, bad);
    }
    case 'drop': {
      const waiting = undelivered(w, to);
      if (waiting.length === 0) return;
      rng.pick(waiting).dropped = true;
      bump(w.counts, 'dropped');
      return;
    }
    case 'bad': {
      const run = await deliverBad(w, to, rng.weighted(BAD_KINDS));
      if (!run) return;
      await run();
      await compare(w, to, 'after a bad input');
      return;
    }
    case 'reload':
      await w.real[to].reload();
      await w.shadow[to].reload();
      bump(w.counts, 'reload');
      return compare(w, to, 'after reload');
  }
}

/** Runs one conversation; throws `Failure` (or anything unexpected) on the first broken property. */
async function conversation(w: World, steps: number): Promise<number> {
  let done = 0;
  for (; done < steps; done++) await step(w);
  // Everything not dropped arrives at the end, newest first; then one more message each way.
  for (const to of ['A', 'B'] as const) {
    const waiting = undelivered(w, to).reverse();
    for (const s of waiting) await deliverGenuine(w, to, [s]);
  }
  for (const from of ['A', 'B'] as const) {
    const before = w.sent.length;
    await doSend(w, from);
    if (w.sent.length > before) await deliverGenuine(w, other(from), [w.sent[w.sent.length - 1]!]);
  }
  for (const s of w.sent) check(s.dropped || s.delivered, `${s.from}#${s.id} was never delivered`);
  return done;
}

export async function runRatchetFuzz(options: RatchetFuzzOptions): Promise<RatchetFuzzResult> {
  const per = options.conversationSteps ?? 300;
  const layers = options.layers ?? ['ratchet', 'session'];
  const preset = options.preset ?? 'fast';
  const counts: Record<string, number> = {};
  const failures: RatchetFailure[] = [];
  let total = 0;
  let index = 0;
  let foreign: Bytes[] = [];
  while (total < options.steps && failures.length < (options.maxFailures ?? 5)) {
    const layer = layers[index % layers.length]!;
    const rng = new Rng(options.seed, index);
    const steps = Math.min(per, options.steps - total);
    let w: World | undefined;
    let at = 0;
    try {
      w = layer === 'ratchet' ? await ratchetWorld(rng, preset) : await sessionWorld(rng, preset);
      w.foreign = foreign;
      const wrapped = w;
      const stepOnce = step;
      // Count steps as they happen, so a failure reports where it was.
      const counting = async () => {
        at += 1;
        await stepOnce(wrapped);
      };
      for (let i = 0; i < steps; i++) await counting();
      at = -1;
      await conversation(w, 0);
      total += steps;
      foreign = w.sent.slice(-20).map((s) => s.wire);
    } catch (error) {
      failures.push({
        seed: options.seed,
        conversation: index,
        layer,
        step: at,
        message: error instanceof Failure ? error.message : `unexpected ${(error as Error)?.constructor?.name}: ${(error as Error)?.stack ?? String(error)}`,
      });
      total += steps;
    }
    if (w) for (const [k, v] of Object.entries(w.counts)) counts[k] = (counts[k] ?? 0) + v;
    options.onConversation?.({ index, layer, steps, totalSteps: total });
    index += 1;
  }
  counts.steps = total;
  return { seed: options.seed, steps: total, conversations: index, counts, failures };
}
