/**
 * The floor: bare loops of the primitives each workload needs, on one crypto provider, with no
 * framing, no parsing, no checks beyond the AEAD's own and no state handling. What ours does on
 * top of this is the cost of the protocol's bookkeeping; the targets want it at most 25%
 * (ours ≥ 80% of the floor on the same provider).
 *
 * - chain step + AEAD: per message HMAC(ck, 1), HMAC(ck, 2), a 12-byte nonce, seal; the same two
 *   HMACs and open on the other side;
 * - DH step (ping-pong): the above, plus on the receiving side X25519, HKDF, a key pair, X25519, HKDF;
 * - X3DH (setup): the bundle signature verified, Ed25519→X25519 of the identity, a key pair and
 *   four X25519 and HKDF each side, the sender's first ratchet step, first message, a DH step and
 *   the reply, a DH step and its decryption: the primitive sequence of our session setup.
 *
 * Runtime-neutral (no node: imports).
 */
import type { CryptoProvider, MaybePromise } from '../src/crypto/index.js';
import { concatBytes, utf8 } from '../src/encoding.js';
import type { Contender } from './runner.js';
import { BULK_SIZE, checkIterations, MESSAGE_SIZE, payload, type WorkloadResult } from './workloads.js';

const ONE = Uint8Array.of(1);
const TWO = Uint8Array.of(2);
const RATCHET_INFO = utf8('AgentMesh_Ratchet_v1');
const X3DH_INFO = utf8('AgentMesh_X3DH_v1');
const ZERO32 = new Uint8Array(32);
const PAD = new Uint8Array(32).fill(0xff);
const AD = new Uint8Array(104);

const now = (): number => performance.now();
const v = async <T>(x: MaybePromise<T>): Promise<T> => (x instanceof Promise ? await x : x);

/** One symmetric step and the AEAD: the next chain key, the nonce and the sealed message. */
async function chainSeal(c: CryptoProvider, ck: Uint8Array, plaintext: Uint8Array): Promise<[Uint8Array, Uint8Array, Uint8Array]> {
  const mk = await v(c.hmacSha256(ck, ONE));
  const next = await v(c.hmacSha256(ck, TWO));
  ck.fill(0);
  const nonce = c.randomBytes(12);
  const sealed = c.aeadSeal(mk, nonce, plaintext, AD);
  mk.fill(0);
  return [next, nonce, sealed];
}

async function chainOpen(c: CryptoProvider, ck: Uint8Array, nonce: Uint8Array, sealed: Uint8Array): Promise<[Uint8Array, Uint8Array]> {
  const mk = await v(c.hmacSha256(ck, ONE));
  const next = await v(c.hmacSha256(ck, TWO));
  ck.fill(0);
  const plaintext = c.aeadOpen(mk, nonce, sealed, AD);
  mk.fill(0);
  return [next, plaintext];
}

async function kdfRoot(c: CryptoProvider, rk: Uint8Array, dh: Uint8Array): Promise<[Uint8Array, Uint8Array]> {
  const out = await v(c.hkdfSha256(dh, rk, RATCHET_INFO, 64));
  return [out.slice(0, 32), out.slice(32)];
}

async function oneWay(c: CryptoProvider, iterations: number, size: number): Promise<WorkloadResult> {
  checkIterations(iterations);
  let ckA: Uint8Array = c.randomBytes(32);
  let ckB: Uint8Array = new Uint8Array(ckA);
  const p = payload(size);
  const t0 = now();
  for (let i = 0; i < iterations; i++) {
    const [nextA, nonce, sealed] = await chainSeal(c, ckA, p);
    ckA = nextA;
    const [nextB, plaintext] = await chainOpen(c, ckB, nonce, sealed);
    ckB = nextB;
    if (plaintext.length !== size) throw new Error('floor: wrong plaintext');
  }
  return { operations: iterations, seconds: (now() - t0) / 1000 };
}

/** Receiver's DH ratchet step: X25519, KDF_RK, new pair, X25519, KDF_RK. */
async function dhStep(c: CryptoProvider, party: Party, remote: Uint8Array): Promise<void> {
  const dh1 = await v(c.x25519(party.pair.privateKey, remote));
  const [rk1, recv] = await kdfRoot(c, party.rk, dh1);
  const pair = await c.x25519GenerateKeyPair();
  const dh2 = await v(c.x25519(pair.privateKey, remote));
  const [rk2, send] = await kdfRoot(c, rk1, dh2);
  c.zeroize(dh1, dh2, rk1, party.rk, party.pair.privateKey);
  party.rk = rk2;
  party.recv = recv;
  party.send = send;
  party.pair = pair;
}

interface Party {
  rk: Uint8Array;
  pair: { privateKey: Uint8Array; publicKey: Uint8Array };
  send: Uint8Array;
  recv: Uint8Array;
}

/** A (sender side of the first step) and B with matching chains, as after X3DH and initSender. */
async function ratchetPair(c: CryptoProvider): Promise<[Party, Party]> {
  const rk0 = c.randomBytes(32);
  const b: Party = { rk: rk0, pair: await c.x25519GenerateKeyPair(), send: ZERO32, recv: ZERO32 };
  const aPair = await c.x25519GenerateKeyPair();
  const [rk1, send] = await kdfRoot(c, rk0, await v(c.x25519(aPair.privateKey, b.pair.publicKey)));
  return [{ rk: rk1, pair: aPair, send, recv: ZERO32 }, b];
}

/** Sender: chain step + seal. Receiver: DH step, chain step + open. */
async function deliver(c: CryptoProvider, from: Party, to: Party, p: Uint8Array, dh: boolean): Promise<Uint8Array> {
  const [nextSend, nonce, sealed] = await chainSeal(c, from.send, p);
  from.send = nextSend;
  if (dh) await dhStep(c, to, from.pair.publicKey);
  const [nextRecv, plaintext] = await chainOpen(c, to.recv, nonce, sealed);
  to.recv = nextRecv;
  return plaintext;
}

async function pingPong(c: CryptoProvider, iterations: number): Promise<WorkloadResult> {
  checkIterations(iterations);
  const parties = await ratchetPair(c);
  const p = payload();
  const t0 = now();
  for (let i = 0; i < iterations; i++) {
    const plaintext = await deliver(c, parties[i % 2]!, parties[(i + 1) % 2]!, p, true);
    if (plaintext.length !== MESSAGE_SIZE) throw new Error('floor: wrong plaintext');
  }
  return { operations: iterations, seconds: (now() - t0) / 1000 };
}

async function x3dhSecret(c: CryptoProvider, dhs: Uint8Array[]): Promise<Uint8Array> {
  const ikm = concatBytes(PAD, ...dhs);
  const sk = await v(c.hkdfSha256(ikm, ZERO32, X3DH_INFO, 32));
  c.zeroize(ikm, ...dhs);
  return sk;
}

async function setup(c: CryptoProvider, iterations: number): Promise<WorkloadResult> {
  checkIterations(iterations);
  const hello = new Uint8Array(64);
  const aliceIk = await c.x25519GenerateKeyPair();
  const bobSeed = c.randomBytes(32);
  const bobEd = await v(c.ed25519PublicKey(bobSeed));
  const bobIk = { privateKey: c.ed25519ToX25519Private(bobSeed), publicKey: c.ed25519ToX25519Public(bobEd) };
  const spk = await c.x25519GenerateKeyPair();
  const spkSig = await v(c.ed25519Sign(bobSeed, spk.publicKey));
  const otks = [];
  for (let i = 0; i < iterations; i++) otks.push(await c.x25519GenerateKeyPair());
  const t0 = now();
  for (let i = 0; i < iterations; i++) {
    const otk = otks[i]!;
    // Initiator: X3DH against the bundle, then its first ratchet step and the first message.
    if (!(await v(c.ed25519Verify(bobEd, spk.publicKey, spkSig)))) throw new Error('floor: bad bundle signature');
    const ikB = c.ed25519ToX25519Public(bobEd);
    const ek = await c.x25519GenerateKeyPair();
    const skA = await x3dhSecret(c, [
      await v(c.x25519(aliceIk.privateKey, spk.publicKey)),
      await v(c.x25519(ek.privateKey, ikB)),
      await v(c.x25519(ek.privateKey, spk.publicKey)),
      await v(c.x25519(ek.privateKey, otk.publicKey)),
    ]);
    const aPair = await c.x25519GenerateKeyPair();
    const [rkA, sendA] = await kdfRoot(c, skA, await v(c.x25519(aPair.privateKey, spk.publicKey)));
    const alice: Party = { rk: rkA, pair: aPair, send: sendA, recv: ZERO32 };
    // Responder: X3DH, then the DH step of the first message, and the reply.
    const skB = await x3dhSecret(c, [
      await v(c.x25519(spk.privateKey, aliceIk.publicKey)),
      await v(c.x25519(bobIk.privateKey, ek.publicKey)),
      await v(c.x25519(spk.privateKey, ek.publicKey)),
      await v(c.x25519(otk.privateKey, ek.publicKey)),
    ]);
    const bob: Party = { rk: skB, pair: { privateKey: new Uint8Array(spk.privateKey), publicKey: spk.publicKey }, send: ZERO32, recv: ZERO32 };
    const first = await deliver(c, alice, bob, hello, true);
    const reply = await deliver(c, bob, alice, hello, true);
    if (first.length !== 64 || reply.length !== 64) throw new Error('floor: setup failed');
  }
  return { operations: iterations, seconds: (now() - t0) / 1000 };
}

export function floorContender(id: string, crypto: CryptoProvider, detail: string): Contender {
  return {
    id: `floor:${id}`,
    label: `floor: ${id}`,
    detail,
    workloads: {
      'one-way-1k': (n) => oneWay(crypto, n, MESSAGE_SIZE),
      'ping-pong-1k': (n) => pingPong(crypto, n),
      'session-setup': (n) => setup(crypto, n),
      'bulk-64k': (n) => oneWay(crypto, n, BULK_SIZE),
    },
  };
}
