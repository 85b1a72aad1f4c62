/**
 * `@microsoft/agent-governance-sdk` 4.0.0: the same AgentMesh v1 protocol (X3DH + Double Ratchet,
 * same constants) in TypeScript on noble, synchronous. Its EncryptedMessage has no binary form,
 * so the adapter frames it as the wire format does (uint32 40 || header || ciphertext).
 * Persisted: its DoubleRatchet's getState()/fromState() around every message, through JSON text.
 */
import { DoubleRatchet, SecureChannel, X3DHKeyManager } from '@microsoft/agent-governance-sdk';
import { ed25519 } from '@noble/curves/ed25519.js';
import { checkStamp, payload, stamp } from '../workloads.js';
import { hex, peer, timed, unhex } from './common.js';

type Msg = { header: { dhPublicKey: Uint8Array; previousChainLength: number; messageNumber: number }; ciphertext: Uint8Array };
type State = ReturnType<DoubleRatchet['getState']>;

function serialize(m: Msg): Uint8Array {
  const out = new Uint8Array(44 + m.ciphertext.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, 40);
  out.set(m.header.dhPublicKey, 4);
  dv.setUint32(36, m.header.previousChainLength);
  dv.setUint32(40, m.header.messageNumber);
  out.set(m.ciphertext, 44);
  return out;
}

function deserialize(b: Uint8Array): Msg {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (dv.getUint32(0) !== 40) throw new Error('bad header length');
  return {
    header: { dhPublicKey: b.slice(4, 36), previousChainLength: dv.getUint32(36), messageNumber: dv.getUint32(40) },
    ciphertext: b.slice(44),
  };
}

function agent(): X3DHKeyManager {
  const seed = ed25519.utils.randomSecretKey();
  return new X3DHKeyManager(seed, ed25519.getPublicKey(seed));
}

function pair(): [SecureChannel, SecureChannel] {
  const alice = agent();
  const bob = agent();
  bob.generateSignedPreKey();
  const [otk] = bob.generateOneTimePreKeys(1);
  const [a, est] = SecureChannel.createSender(alice, bob.getPublicBundle(otk!.keyId));
  const b = SecureChannel.createReceiver(bob, est);
  b.receive(deserialize(serialize(a.send(new Uint8Array(1)))));
  a.receive(deserialize(serialize(b.send(new Uint8Array(1)))));
  return [a, b];
}

function saveState(s: State): string {
  const h = (x: Uint8Array | null) => (x ? hex(x) : null);
  return JSON.stringify({
    ...s,
    dhSelfPrivate: h(s.dhSelfPrivate),
    dhSelfPublic: h(s.dhSelfPublic),
    dhRemotePublic: h(s.dhRemotePublic),
    rootKey: h(s.rootKey),
    chainKeySend: h(s.chainKeySend),
    chainKeyRecv: h(s.chainKeyRecv),
    skippedKeys: [...s.skippedKeys].map(([k, v]) => [k, hex(v)]),
  });
}

function loadState(text: string): State {
  const j = JSON.parse(text);
  const u = (x: string | null) => (x === null ? null : unhex(x));
  return {
    ...j,
    dhSelfPrivate: u(j.dhSelfPrivate),
    dhSelfPublic: u(j.dhSelfPublic),
    dhRemotePublic: u(j.dhRemotePublic),
    rootKey: u(j.rootKey),
    chainKeySend: u(j.chainKeySend),
    chainKeyRecv: u(j.chainKeyRecv),
    skippedKeys: new Map((j.skippedKeys as [string, string][]).map(([k, v]) => [k, unhex(v)])),
  };
}

function traffic(size: number, pingPong: boolean) {
  return (iterations: number) => {
    const [a, b] = pair();
    const p = payload(size);
    return timed(iterations, (i) => {
      const [from, to] = pingPong && i % 2 === 1 ? [b, a] : [a, b];
      stamp(p, i);
      checkStamp(to.receive(deserialize(serialize(from.send(p)))), i, 'ms sdk', size);
    });
  };
}

function persisted(pingPong: boolean) {
  return (iterations: number) => {
    const [a, b] = pair();
    // The channel keeps its ratchet and associated data in private fields; an agent persisting
    // this SDK's sessions would keep them the same way.
    const ad = (c: SecureChannel) => (c as unknown as { associatedData: Uint8Array }).associatedData;
    const rs = (c: SecureChannel) => (c as unknown as { ratchet: DoubleRatchet }).ratchet;
    const saved = [saveState(rs(a).getState()), saveState(rs(b).getState())];
    const ads = [ad(a), ad(b)];
    const p = payload();
    return timed(iterations, (i) => {
      const [from, to] = pingPong && i % 2 === 1 ? [1, 0] : [0, 1];
      stamp(p, i);
      const sender = DoubleRatchet.fromState(loadState(saved[from]!));
      const wire = serialize(sender.encrypt(p, ads[from]));
      saved[from] = saveState(sender.getState());
      const receiver = DoubleRatchet.fromState(loadState(saved[to]!));
      checkStamp(receiver.decrypt(deserialize(wire), ads[to]), i, 'ms sdk persisted');
      saved[to] = saveState(receiver.getState());
    });
  };
}

const enc = (b: Uint8Array) => Buffer.from(b).toString('base64url');
const dec = (s: string) => new Uint8Array(Buffer.from(s, 'base64url'));

function setup(iterations: number) {
  const alice = agent();
  const bob = agent();
  bob.generateSignedPreKey();
  const otks: { keyId: number }[] = [];
  for (let left = iterations; left > 0; left -= 1000) otks.push(...bob.generateOneTimePreKeys(Math.min(1000, left)));
  const hello = new Uint8Array(64).fill(0x68);
  return timed(iterations, (i) => {
    // The bundle and the establishment travel as JSON, as ours do.
    const b = bob.getPublicBundle(otks[i]!.keyId);
    const text = JSON.stringify({
      identity_key: enc(b.identityKey), identity_key_ed: enc(b.identityKeyEd), signed_pre_key: enc(b.signedPreKey),
      signed_pre_key_signature: enc(b.signedPreKeySignature), signed_pre_key_id: b.signedPreKeyId,
      one_time_pre_key: enc(b.oneTimePreKey!), one_time_pre_key_id: b.oneTimePreKeyId,
    });
    const j = JSON.parse(text);
    const [a, est] = SecureChannel.createSender(alice, {
      identityKey: dec(j.identity_key), identityKeyEd: dec(j.identity_key_ed), signedPreKey: dec(j.signed_pre_key),
      signedPreKeySignature: dec(j.signed_pre_key_signature), signedPreKeyId: j.signed_pre_key_id,
      oneTimePreKey: dec(j.one_time_pre_key), oneTimePreKeyId: j.one_time_pre_key_id,
    });
    const first = serialize(a.send(hello));
    const e = JSON.parse(JSON.stringify({ ik: enc(est.initiatorIdentityKey), ek: enc(est.ephemeralPublicKey), otk: est.usedOneTimeKeyId }));
    const r = SecureChannel.createReceiver(bob, { initiatorIdentityKey: dec(e.ik), ephemeralPublicKey: dec(e.ek), usedOneTimeKeyId: e.otk });
    if (r.receive(deserialize(first)).length !== 64) throw new Error('ms sdk setup: first message');
    if (a.receive(deserialize(serialize(r.send(hello)))).length !== 64) throw new Error('ms sdk setup: reply');
  });
}

export function msAgentMesh() {
  return peer('ms-sdk', '@microsoft/agent-governance-sdk 4.0.0', 'TypeScript, noble (AgentMesh v1)', {
    'one-way-1k': traffic(1024, false),
    'ping-pong-1k': traffic(1024, true),
    'session-setup': setup,
    'bulk-64k': traffic(65536, false),
    'one-way-1k-persisted': persisted(false),
    'ping-pong-1k-persisted': persisted(true),
  });
}
