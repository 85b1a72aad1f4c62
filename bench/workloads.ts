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
import { concatBytes, fromHex, toHex } from '../src/encoding.js';
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
export const BULK_SIZE = 65536;

const now = (): number => performance.now();

function checkIterations(iterations: number): void {
  if (!Number.isInteger(iterations) || iterations < 1) throw new RangeError(`iterations must be a positive integer, got ${iterations}`);
}

/** A payload (1 KiB unless told) whose first 4 bytes carry the message index, so each delivery can be checked. */
export function payload(size = MESSAGE_SIZE): Uint8Array {
  const p = new Uint8Array(size);
  for (let i = 0; i < p.length; i++) p[i] = (i * 131 + 7) & 0xff;
  return p;
}

export function stamp(p: Uint8Array, i: number): void {
  new DataView(p.buffer, p.byteOffset, 4).setUint32(0, i);
}

export function checkStamp(p: Uint8Array, i: number, what: string, size = MESSAGE_SIZE): void {
  if (p.length !== size || new DataView(p.buffer, p.byteOffset, 4).getUint32(0) !== i) {
    throw new Error(`${what}: message ${i} did not decrypt to what was sent`);
  }
}

export { checkIterations };

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

async function oneWay(crypto: CryptoProvider, iterations: number, size: number): Promise<WorkloadResult> {
  checkIterations(iterations);
  const [a, b] = await openChannelPair(crypto);
  const p = payload(size);
  const t0 = now();
  for (let i = 0; i < iterations; i++) {
    stamp(p, i);
    const wire = (await a.send(p)).serialize();
    checkStamp(await b.receive(wire), i, 'one-way', size);
  }
  const seconds = (now() - t0) / 1000;
  await Promise.all([a.close(), b.close()]);
  return { operations: iterations, seconds };
}

/**
 * 1 KiB one-way: A encrypts and serializes, B parses and decrypts; one symmetric chain step per
 * message on each side, no DH. Operations = messages.
 */
export function oneWay1KiB(crypto: CryptoProvider, iterations: number): Promise<WorkloadResult> {
  return oneWay(crypto, iterations, MESSAGE_SIZE);
}

/** 64 KiB one-way, as `oneWay1KiB`; the table shows it in MB/s. Operations = messages. */
export function bulk64KiB(crypto: CryptoProvider, iterations: number): Promise<WorkloadResult> {
  return oneWay(crypto, iterations, BULK_SIZE);
}

/** A channel as an agent persists it: JSON text of its snapshot (byte fields as hex). */
export function saveChannel(channel: SecureChannel): string {
  const s = channel.snapshot();
  return JSON.stringify({
    ad: toHex(s.associatedData),
    local: toHex(s.localIdentityKey),
    remote: toHex(s.remoteIdentityKey),
    count: s.messageCount,
    state: s.state,
  });
}

export function loadChannel(text: string, crypto: CryptoProvider): SecureChannel {
  const j = JSON.parse(text) as { ad: string; local: string; remote: string; count: number; state: never };
  return SecureChannel.restore(
    { associatedData: fromHex(j.ad), localIdentityKey: fromHex(j.local), remoteIdentityKey: fromHex(j.remote), messageCount: j.count, state: j.state },
    { crypto },
  );
}

/**
 * Persisted: before every message the sender and the receiver restore their channel from its
 * saved JSON text, and after it they save it again and close (wipe) the live copy, as an agent
 * that keeps no session in memory between messages does. `pingPong` alternates the direction.
 */
async function persisted(crypto: CryptoProvider, iterations: number, pingPong: boolean): Promise<WorkloadResult> {
  checkIterations(iterations);
  const [a0, b0] = await openChannelPair(crypto);
  const saved = [saveChannel(a0), saveChannel(b0)];
  await Promise.all([a0.close(), b0.close()]);
  const p = payload();
  const t0 = now();
  for (let i = 0; i < iterations; i++) {
    const [from, to] = pingPong && i % 2 === 1 ? [1, 0] : [0, 1];
    stamp(p, i);
    const sender = loadChannel(saved[from]!, crypto);
    const wire = (await sender.send(p)).serialize();
    saved[from] = saveChannel(sender);
    await sender.close();
    const receiver = loadChannel(saved[to]!, crypto);
    checkStamp(await receiver.receive(wire), i, pingPong ? 'ping-pong persisted' : 'one-way persisted');
    saved[to] = saveChannel(receiver);
    await receiver.close();
  }
  return { operations: iterations, seconds: (now() - t0) / 1000 };
}

export function oneWay1KiBPersisted(crypto: CryptoProvider, iterations: number): Promise<WorkloadResult> {
  return persisted(crypto, iterations, false);
}

export function pingPong1KiBPersisted(crypto: CryptoProvider, iterations: number): Promise<WorkloadResult> {
  return persisted(crypto, iterations, true);
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

export type WorkloadId =
  | 'one-way-1k'
  | 'ping-pong-1k'
  | 'session-setup'
  | 'bulk-64k'
  | 'one-way-1k-persisted'
  | 'ping-pong-1k-persisted';

export interface WorkloadSpec {
  readonly id: WorkloadId;
  readonly title: string;
  /** Unit of the rate printed. */
  readonly unit: string;
  /** Printed rate = operations per second × scale (default 1); 64 KiB messages print as MB/s. */
  readonly scale?: number;
  /** For a persisted variant: the in-memory workload it is compared with. */
  readonly inMemory?: WorkloadId;
  readonly run: Workload;
}

/** In table order. */
export const WORKLOADS: readonly WorkloadSpec[] = [
  { id: 'one-way-1k', title: '1 KiB one-way encrypt+decrypt', unit: 'msg/s', run: oneWay1KiB },
  { id: 'ping-pong-1k', title: '1 KiB ping-pong (DH step every message)', unit: 'msg/s', run: pingPong1KiB },
  { id: 'session-setup', title: 'session setup (bundle, X3DH, first message, reply)', unit: 'setups/s', run: sessionSetup },
  { id: 'bulk-64k', title: '64 KiB one-way encrypt+decrypt', unit: 'MB/s', scale: BULK_SIZE / 1e6, run: bulk64KiB },
  {
    id: 'one-way-1k-persisted',
    title: '1 KiB one-way, state restored+saved around every message',
    unit: 'msg/s',
    inMemory: 'one-way-1k',
    run: oneWay1KiBPersisted,
  },
  {
    id: 'ping-pong-1k-persisted',
    title: '1 KiB ping-pong, state restored+saved around every message',
    unit: 'msg/s',
    inMemory: 'ping-pong-1k',
    run: pingPong1KiBPersisted,
  },
];
