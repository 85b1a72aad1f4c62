/**
 * `@privacyresearch/libsignal-protocol-typescript` 0.0.16: Signal's protocol (X3DH, AES-CBC+HMAC)
 * in pure TypeScript over WebCrypto and a JS Curve25519. Its store API takes session records as
 * strings: the library serializes the record on every save and parses it on every load, so its
 * in-memory and persisted runs are the same code path (both are reported).
 */
import * as L from '@privacyresearch/libsignal-protocol-typescript';
import { checkStamp, payload, stamp } from '../workloads.js';
import { peer, timed } from './common.js';

class Store implements L.StorageType {
  readonly sessions = new Map<string, string>();
  readonly preKeys = new Map<string, L.KeyPairType>();
  readonly signed = new Map<string, L.KeyPairType>();
  constructor(readonly identity: L.KeyPairType, readonly registrationId: number) {}
  async getIdentityKeyPair() {
    return this.identity;
  }
  async getLocalRegistrationId() {
    return this.registrationId;
  }
  async isTrustedIdentity() {
    return true;
  }
  async saveIdentity() {
    return false;
  }
  async loadPreKey(id: string | number) {
    return this.preKeys.get(String(id));
  }
  async storePreKey(id: string | number, pair: L.KeyPairType) {
    this.preKeys.set(String(id), pair);
  }
  async removePreKey(id: string | number) {
    this.preKeys.delete(String(id));
  }
  async storeSession(address: string, record: string) {
    this.sessions.set(address, record);
  }
  async loadSession(address: string) {
    return this.sessions.get(address);
  }
  async loadSignedPreKey(id: string | number) {
    return this.signed.get(String(id));
  }
  async storeSignedPreKey(id: string | number, pair: L.KeyPairType) {
    this.signed.set(String(id), pair);
  }
  async removeSignedPreKey(id: string | number) {
    this.signed.delete(String(id));
  }
}

let names = 0;

interface Party {
  store: Store;
  name: string;
  spk: L.SignedPreKeyPairType;
}

async function party(): Promise<Party> {
  const identity = await L.KeyHelper.generateIdentityKeyPair();
  const store = new Store(identity, L.KeyHelper.generateRegistrationId());
  const spk = await L.KeyHelper.generateSignedPreKey(identity, 1);
  await store.storeSignedPreKey(1, spk.keyPair);
  return { store, name: `agent-${names++}`, spk };
}

async function preKeys(p: Party, count: number, from: number): Promise<L.PreKeyPairType[]> {
  const out = [];
  for (let i = 0; i < count; i++) {
    const k = await L.KeyHelper.generatePreKey(from + i);
    await p.store.storePreKey(k.keyId, k.keyPair);
    out.push(k);
  }
  return out;
}

function device(p: Party, pk: L.PreKeyPairType): L.DeviceType {
  return {
    identityKey: p.store.identity.pubKey,
    signedPreKey: { keyId: 1, publicKey: p.spk.keyPair.pubKey, signature: p.spk.signature },
    preKey: { keyId: pk.keyId, publicKey: pk.keyPair.pubKey },
    registrationId: p.store.registrationId,
  };
}

const address = (name: string) => new L.SignalProtocolAddress(name, 1);

async function deliver(from: Party, to: Party, fromName: string, toName: string, plaintext: Uint8Array): Promise<Uint8Array> {
  const m = await new L.SessionCipher(from.store, address(toName)).encrypt(plaintext.slice().buffer);
  const cipher = new L.SessionCipher(to.store, address(fromName));
  const out = m.type === 3 ? await cipher.decryptPreKeyWhisperMessage(m.body!, 'binary') : await cipher.decryptWhisperMessage(m.body!, 'binary');
  return new Uint8Array(out);
}

async function sessionPair(): Promise<[Party, Party]> {
  const a = await party();
  const b = await party();
  const [pk] = await preKeys(b, 1, 1);
  await new L.SessionBuilder(a.store, address(b.name)).processPreKey(device(b, pk!));
  await deliver(a, b, a.name, b.name, new Uint8Array(1));
  await deliver(b, a, b.name, a.name, new Uint8Array(1));
  return [a, b];
}

function traffic(size: number, pingPong: boolean) {
  return async (iterations: number) => {
    const [a, b] = await sessionPair();
    const p = payload(size);
    return timed(iterations, async (i) => {
      const [from, to] = pingPong && i % 2 === 1 ? [b, a] : [a, b];
      stamp(p, i);
      checkStamp(await deliver(from, to, from.name, to.name, p), i, 'libsignal-ts', size);
    });
  };
}

async function setup(iterations: number) {
  const a = await party();
  const b = await party();
  const pks = await preKeys(b, iterations, 1);
  const hello = new Uint8Array(64).fill(0x68);
  return timed(iterations, async (i) => {
    const aName = `${a.name}-${i}`;
    const bName = `${b.name}-${i}`;
    await new L.SessionBuilder(a.store, address(bName)).processPreKey(device(b, pks[i]!));
    if ((await deliver(a, b, aName, bName, hello)).length !== 64) throw new Error('libsignal-ts setup: first message');
    if ((await deliver(b, a, bName, aName, hello)).length !== 64) throw new Error('libsignal-ts setup: reply');
  });
}

export function libsignalTs() {
  const oneWay = traffic(1024, false);
  const pingPong = traffic(1024, true);
  return peer('libsignal-ts', '@privacyresearch/libsignal-protocol-typescript', 'TypeScript, WebCrypto + JS curve', {
    'one-way-1k': oneWay,
    'ping-pong-1k': pingPong,
    'session-setup': setup,
    'bulk-64k': traffic(65536, false),
    'one-way-1k-persisted': oneWay,
    'ping-pong-1k-persisted': pingPong,
  });
}
