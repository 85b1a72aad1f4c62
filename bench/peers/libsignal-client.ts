/**
 * `@signalapp/libsignal-client`: Signal's Rust core through N-API (prebuilt binary shipped in the
 * npm package). Its X3DH is PQXDH: every bundle carries a signed ML-KEM-1024 pre-key, so a setup
 * does an encapsulation and a decapsulation on top of the X25519 work (Signal has no way to turn
 * that off); its messages carry a MAC besides AES-CBC. Sessions live in stores: in memory they
 * keep the SessionRecord object; persisted, the store serializes it on every save and parses it
 * on every load (libsignal loads and saves the record around every encrypt and decrypt).
 */
import * as S from '@signalapp/libsignal-client';
import { checkStamp, payload, stamp } from '../workloads.js';
import { peer, timed } from './common.js';

class Sessions extends S.SessionStore {
  readonly #objects = new Map<string, S.SessionRecord>();
  readonly #bytes = new Map<string, Uint8Array<ArrayBuffer>>();
  constructor(readonly persisted: boolean) {
    super();
  }
  async saveSession(name: S.ProtocolAddress, record: S.SessionRecord): Promise<void> {
    if (this.persisted) this.#bytes.set(name.toString(), record.serialize());
    else this.#objects.set(name.toString(), record);
  }
  async getSession(name: S.ProtocolAddress): Promise<S.SessionRecord | null> {
    if (!this.persisted) return this.#objects.get(name.toString()) ?? null;
    const b = this.#bytes.get(name.toString());
    return b ? S.SessionRecord.deserialize(b) : null;
  }
  async getExistingSessions(addresses: S.ProtocolAddress[]): Promise<S.SessionRecord[]> {
    return (await Promise.all(addresses.map((a) => this.getSession(a)))).filter((r): r is S.SessionRecord => r !== null);
  }
}

class Identities extends S.IdentityKeyStore {
  constructor(readonly pair: S.IdentityKeyPair, readonly registrationId: number) {
    super();
  }
  async getIdentityKey(): Promise<S.PrivateKey> {
    return this.pair.privateKey;
  }
  async getLocalRegistrationId(): Promise<number> {
    return this.registrationId;
  }
  async saveIdentity(): Promise<S.IdentityChange> {
    return S.IdentityChange.NewOrUnchanged;
  }
  async isTrustedIdentity(): Promise<boolean> {
    return true;
  }
  async getIdentity(): Promise<S.PublicKey | null> {
    return null;
  }
}

class PreKeys extends S.PreKeyStore {
  readonly keys = new Map<number, S.PreKeyRecord>();
  async savePreKey(id: number, record: S.PreKeyRecord): Promise<void> {
    this.keys.set(id, record);
  }
  async getPreKey(id: number): Promise<S.PreKeyRecord> {
    const k = this.keys.get(id);
    if (!k) throw new Error(`no pre-key ${id}`);
    return k;
  }
  async removePreKey(id: number): Promise<void> {
    this.keys.delete(id);
  }
}

class SignedPreKeys extends S.SignedPreKeyStore {
  readonly keys = new Map<number, S.SignedPreKeyRecord>();
  async saveSignedPreKey(id: number, record: S.SignedPreKeyRecord): Promise<void> {
    this.keys.set(id, record);
  }
  async getSignedPreKey(id: number): Promise<S.SignedPreKeyRecord> {
    return this.keys.get(id)!;
  }
}

class KyberPreKeys extends S.KyberPreKeyStore {
  readonly keys = new Map<number, S.KyberPreKeyRecord>();
  async saveKyberPreKey(id: number, record: S.KyberPreKeyRecord): Promise<void> {
    this.keys.set(id, record);
  }
  async getKyberPreKey(id: number): Promise<S.KyberPreKeyRecord> {
    return this.keys.get(id)!;
  }
  async markKyberPreKeyUsed(): Promise<void> {
    // last-resort key: reusable
  }
}

interface Party {
  address: S.ProtocolAddress;
  identity: Identities;
  sessions: Sessions;
  preKeys: PreKeys;
  signed: SignedPreKeys;
  kyber: KyberPreKeys;
}

let nextName = 0;

function party(persisted: boolean): Party {
  const pair = S.IdentityKeyPair.generate();
  const identity = new Identities(pair, 1 + Math.floor(Math.random() * 16000));
  const p: Party = {
    address: S.ProtocolAddress.new(`agent-${nextName++}`, 1),
    identity,
    sessions: new Sessions(persisted),
    preKeys: new PreKeys(),
    signed: new SignedPreKeys(),
    kyber: new KyberPreKeys(),
  };
  const spk = S.PrivateKey.generate();
  p.signed.keys.set(1, S.SignedPreKeyRecord.new(1, Date.now(), spk.getPublicKey(), spk, pair.privateKey.sign(spk.getPublicKey().serialize())));
  const kem = S.KEMKeyPair.generate();
  p.kyber.keys.set(1, S.KyberPreKeyRecord.new(1, Date.now(), kem, pair.privateKey.sign(kem.getPublicKey().serialize())));
  return p;
}

function addPreKeys(p: Party, count: number): number[] {
  const ids: number[] = [];
  for (let i = 0; i < count; i++) {
    const id = p.preKeys.keys.size + 100 + i;
    const k = S.PrivateKey.generate();
    p.preKeys.keys.set(id, S.PreKeyRecord.new(id, k.getPublicKey(), k));
    ids.push(id);
  }
  return ids;
}

async function bundle(p: Party, preKeyId: number): Promise<S.PreKeyBundle> {
  const spk = p.signed.keys.get(1)!;
  const kyber = p.kyber.keys.get(1)!;
  return S.PreKeyBundle.new(
    p.identity.registrationId, 1, preKeyId, p.preKeys.keys.get(preKeyId)!.publicKey(),
    1, spk.publicKey(), spk.signature(), p.identity.pair.publicKey,
    1, kyber.publicKey(), kyber.signature(),
  );
}

async function send(from: Party, to: Party, plaintext: Uint8Array<ArrayBuffer>): Promise<[number, Uint8Array<ArrayBuffer>]> {
  const m = await S.signalEncrypt(plaintext, to.address, from.address, from.sessions, from.identity);
  return [m.type(), m.serialize()];
}

async function receive(to: Party, from: Party, [type, wire]: [number, Uint8Array<ArrayBuffer>]): Promise<Uint8Array> {
  if (type === S.CiphertextMessageType.PreKey) {
    return S.signalDecryptPreKey(S.PreKeySignalMessage.deserialize(wire), from.address, to.address, to.sessions, to.identity, to.preKeys, to.signed, to.kyber);
  }
  return S.signalDecrypt(S.SignalMessage.deserialize(wire), from.address, to.address, to.sessions, to.identity);
}

async function sessionPair(persisted: boolean): Promise<[Party, Party]> {
  const a = party(persisted);
  const b = party(persisted);
  const [id] = addPreKeys(b, 1);
  await S.processPreKeyBundle(await bundle(b, id!), b.address, a.address, a.sessions, a.identity);
  await receive(b, a, await send(a, b, new Uint8Array(1)));
  await receive(a, b, await send(b, a, new Uint8Array(1)));
  return [a, b];
}

function traffic(size: number, pingPong: boolean, persisted = false) {
  return async (iterations: number) => {
    const [a, b] = await sessionPair(persisted);
    const p = payload(size) as Uint8Array<ArrayBuffer>;
    return timed(iterations, async (i) => {
      const [from, to] = pingPong && i % 2 === 1 ? [b, a] : [a, b];
      stamp(p, i);
      checkStamp(await receive(to, from, await send(from, to, p)), i, 'libsignal-client', size);
    });
  };
}

async function setup(iterations: number) {
  const a = party(false);
  const b = party(false);
  const ids = addPreKeys(b, iterations);
  const hello = new Uint8Array(64).fill(0x68);
  return timed(iterations, async (i) => {
    // A fresh address per setup, so that no session record accumulates archived states.
    const bob = { ...b, address: S.ProtocolAddress.new(`${b.address.name()}-${i}`, 1) };
    const alice = { ...a, address: S.ProtocolAddress.new(`${a.address.name()}-${i}`, 1) };
    const bun = await bundle(b, ids[i]!);
    await S.processPreKeyBundle(bun, bob.address, alice.address, alice.sessions, alice.identity);
    if ((await receive(bob, alice, await send(alice, bob, hello))).length !== 64) throw new Error('libsignal setup: first message');
    if ((await receive(alice, bob, await send(bob, alice, hello))).length !== 64) throw new Error('libsignal setup: reply');
  });
}

export function libsignalClient() {
  return peer('libsignal-client', '@signalapp/libsignal-client', 'Rust via N-API (PQXDH, AES-CBC+HMAC)', {
    'one-way-1k': traffic(1024, false),
    'ping-pong-1k': traffic(1024, true),
    'session-setup': setup,
    'bulk-64k': traffic(65536, false),
    'one-way-1k-persisted': traffic(1024, false, true),
    'ping-pong-1k-persisted': traffic(1024, true, true),
  });
}
