/**
 * Benchmark workloads: plain functions of (crypto provider, iteration count). Each one builds what
 * it needs outside the timed section, times only the loop, checks every result it produces (a
 * wrong answer throws), and reports how many operations it timed and how long they took.
 *
 * Runtime-neutral on purpose (no `node:` imports, no Buffer): the same workloads can later run in
 * browsers and workerd. Peer implementations add functions of the same shape.
 */
import { decodeEstablishment, encodeEstablishment } from '../src/channel/establishment.js';
import { SecureChannel } from '../src/channel/secure-channel.js';
import type { CryptoProvider } from '../src/crypto/index.js';
import { concatBytes } from '../src/encoding.js';
import { decodeBundle, encodeBundle } from '../src/x3dh/bundle.js';
import { X3DHKeyManager } from '../src/x3dh/key-manager.js';

export interface WorkloadResult {
  /** Operations timed (messages, or complete session setups). */
  readonly operations: number;
  /** Wall time of the timed section. */
  readonly seconds: number;
}

/** The shape every workload has, ours and (later) the peers'. */
export type Workload = (crypto: CryptoProvider, iterations: number) => Promise<WorkloadResult>;

export const MESSAGE_SIZE = 1024;

const now = (): number => performance.now();

function checkIterations(iterations: number): void {
  if (!Number.isInteger(iterations) || iterations < 1) throw new RangeError(`iterations must be a positive integer, got ${iterations}`);
}

/** A 1 KiB payload whose first 4 bytes carry the message index, so each delivery can be checked. */
function payload(): Uint8Array {
  const p = new Uint8Array(MESSAGE_SIZE);
  for (let i = 0; i < p.length; i++) p[i] = (i * 131 + 7) & 0xff;
  return p;
}

function stamp(p: Uint8Array, i: number): void {
  new DataView(p.buffer, p.byteOffset, 4).setUint32(0, i);
}

function checkStamp(p: Uint8Array, i: number, what: string): void {
  if (p.length !== MESSAGE_SIZE || new DataView(p.buffer, p.byteOffset, 4).getUint32(0) !== i) {
    throw new Error(`${what}: message ${i} did not decrypt to what was sent`);
  }
}

/** An agent identity (fresh Ed25519 seed) with its X3DH key manager. */
export async function newAgent(crypto: CryptoProvider): Promise<X3DHKeyManager> {
  const seed = crypto.randomBytes(32);
  const publicKey = await crypto.ed25519PublicKey(seed);
  return X3DHKeyManager.fromEd25519Keys(concatBytes(seed, publicKey), publicKey, { crypto });
}

/** Two channels after X3DH, a first message and a reply: both directions have a chain. */
export async function openChannelPair(crypto: CryptoProvider): Promise<[SecureChannel, SecureChannel]> {
  const alice = await newAgent(crypto);
  const bob = await newAgent(crypto);
  await bob.generateSignedPreKey();
  const [otk] = await bob.generateOneTimePreKeys(1);
  const [a, establishment] = await SecureChannel.createSender(alice, bob.getPublicBundle(otk!.keyId), undefined, { crypto });
  const b = await SecureChannel.createReceiver(bob, establishment, undefined, { crypto });
  await b.receive(await a.send(new Uint8Array(1)));
  await a.receive(await b.send(new Uint8Array(1)));
  return [a, b];
}

/**
 * 1 KiB one-way: A encrypts and serializes, B parses and decrypts; one symmetric chain step per
 * message on each side, no DH. Operations = messages.
 */
export async function oneWay1KiB(crypto: CryptoProvider, iterations: number): Promise<WorkloadResult> {
  checkIterations(iterations);
  const [a, b] = await openChannelPair(crypto);
  const p = payload();
  const t0 = now();
  for (let i = 0; i < iterations; i++) {
    stamp(p, i);
    const wire = (await a.send(p)).serialize();
    checkStamp(await b.receive(wire), i, 'one-way');
  }
  const seconds = (now() - t0) / 1000;
  await Promise.all([a.close(), b.close()]);
  return { operations: iterations, seconds };
}

/**
 * 1 KiB ping-pong: A and B take turns, so every message arrives under a new ratchet key and its
 * receiver does a DH ratchet step (two X25519 and a key pair). Operations = messages.
 */
export async function pingPong1KiB(crypto: CryptoProvider, iterations: number): Promise<WorkloadResult> {
  checkIterations(iterations);
  const [a, b] = await openChannelPair(crypto);
  const p = payload();
  const t0 = now();
  for (let i = 0; i < iterations; i++) {
    const [from, to] = i % 2 === 0 ? [a, b] : [b, a];
    stamp(p, i);
    const wire = (await from.send(p)).serialize();
    checkStamp(await to.receive(wire), i, 'ping-pong');
  }
  const seconds = (now() - t0) / 1000;
  await Promise.all([a.close(), b.close()]);
  return { operations: iterations, seconds };
}

const HELLO = new Uint8Array(64).fill(0x68);
const REPLY = new Uint8Array(64).fill(0x72);

/**
 * Session setup, as two agents meeting for the first time do it: the responder's bundle (with a
 * one-time pre-key) goes through its JSON form, the initiator verifies it and runs X3DH, sends a
 * first message with the establishment (JSON), the responder completes X3DH and decrypts, replies,
 * and the initiator decrypts the reply. Identities, the signed pre-key and the one-time pre-keys
 * exist beforehand (untimed). Operations = complete setups.
 */
export async function sessionSetup(crypto: CryptoProvider, iterations: number): Promise<WorkloadResult> {
  checkIterations(iterations);
  const alice = await newAgent(crypto);
  const bob = await newAgent(crypto);
  await bob.generateSignedPreKey();
  const otkIds: number[] = [];
  for (let left = iterations; left > 0; left -= 1000) {
    for (const k of await bob.generateOneTimePreKeys(Math.min(1000, left))) otkIds.push(k.keyId);
  }
  const t0 = now();
  for (let i = 0; i < iterations; i++) {
    const bundleText = JSON.stringify(encodeBundle(bob.getPublicBundle(otkIds[i])));
    const [a, establishment] = await SecureChannel.createSender(alice, decodeBundle(bundleText), undefined, { crypto });
    const first = (await a.send(HELLO)).serialize();
    const establishmentText = JSON.stringify(encodeEstablishment(establishment));
    const b = await SecureChannel.createReceiver(bob, decodeEstablishment(establishmentText), undefined, { crypto });
    const hello = await b.receive(first);
    const reply = (await b.send(REPLY)).serialize();
    const back = await a.receive(reply);
    if (hello.length !== HELLO.length || hello[0] !== HELLO[0] || back.length !== REPLY.length || back[0] !== REPLY[0]) {
      throw new Error(`setup ${i}: the first message or the reply did not decrypt`);
    }
  }
  const seconds = (now() - t0) / 1000;
  if (bob.oneTimePreKeyCount !== 0) throw new Error('setup: one-time pre-keys were not consumed');
  return { operations: iterations, seconds };
}

export type WorkloadId = 'one-way-1k' | 'ping-pong-1k' | 'session-setup';

export interface WorkloadSpec {
  readonly id: WorkloadId;
  readonly title: string;
  /** Unit of the rate printed: operations per second. */
  readonly unit: string;
  readonly run: Workload;
}

/** In table order. */
export const WORKLOADS: readonly WorkloadSpec[] = [
  { id: 'one-way-1k', title: '1 KiB one-way encrypt+decrypt', unit: 'msg/s', run: oneWay1KiB },
  { id: 'ping-pong-1k', title: '1 KiB ping-pong (DH step every message)', unit: 'msg/s', run: pingPong1KiB },
  { id: 'session-setup', title: 'session setup (bundle, X3DH, first message, reply)', unit: 'setups/s', run: sessionSetup },
];
