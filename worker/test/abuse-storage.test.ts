// What the relay keeps: after a real conversation (X3DH, ratchet messages over HTTP and WebSocket,
// some acknowledged, some waiting), no byte of any plaintext and no private or ratchet key appears
// anywhere in the agents' Durable Object storage, in any encoding.
import { SELF, runInDurableObject } from 'cloudflare:test';
import { afterEach, describe, expect, it } from 'vitest';
import { SecureChannel } from '../../src/channel/secure-channel.js';
import { encodeEstablishment } from '../../src/channel/establishment.js';
import { toBase64Url, toHex, utf8 } from '../../src/encoding.js';
import { uploadFromKeyManager } from '../../src/net/prekey-upload.js';
import type { AgentObject } from '../agent-object.js';
import { BASE, TestSocket, agentStub, registeredAgent, signedRequest } from './helpers.js';

const open: TestSocket[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
});

/** Every table row and every key-value entry of an agent's object, as text. */
async function dump(did: string): Promise<string> {
  return runInDurableObject(agentStub(did), async (_o: AgentObject, state) => {
    const out: string[] = [];
    const show = (v: unknown): string =>
      v instanceof ArrayBuffer ? `hex:${toHex(new Uint8Array(v))}` : v instanceof Uint8Array ? `hex:${toHex(v)}` : typeof v === 'string' ? v : JSON.stringify(v);
    const tables = state.storage.sql.exec("SELECT name FROM sqlite_master WHERE type = 'table'").toArray();
    for (const { name } of tables) {
      // The runtime's own tables (`_cf_KV` holds what storage.list() returns below): reading them
      // through SQL is refused, with a "reserved _cf_ prefix" warning on the console.
      if (String(name).startsWith('_cf_')) continue;
      for (const row of state.storage.sql.exec(`SELECT * FROM "${String(name)}"`).toArray()) out.push(`${String(name)}: ${Object.values(row).map(show).join(' | ')}`);
    }
    for (const [k, v] of await state.storage.list()) out.push(`kv ${k}: ${show(v)}`);
    return out.join('\n');
  });
}

/** The forms a byte string can take in storage: raw text, hex, base64 and base64url at every alignment. */
function encodings(bytes: Uint8Array): string[] {
  const forms = [toHex(bytes), toHex(bytes).toUpperCase()];
  for (let shift = 0; shift < 3; shift++) {
    const part = bytes.subarray(shift);
    // Drop the last, possibly partial, group: what surrounds the value changes it.
    const b64 = btoa(String.fromCharCode(...part)).replace(/=+$/, '');
    const whole = b64.slice(0, Math.floor((part.length / 3) * 4) - 4);
    if (whole.length >= 8) forms.push(whole, whole.replace(/\+/g, '-').replace(/\//g, '_'));
  }
  return forms;
}

describe("the relay's storage", () => {
  it('holds no plaintext and no private or ratchet key after a real conversation', async () => {
    const [alice, bob] = [await registeredAgent(), await registeredAgent()];
    await bob.keys.generateSignedPreKey();
    await bob.client.uploadPreKeys(uploadFromKeyManager(bob.keys, await bob.keys.generateOneTimePreKeys(3)));
    await alice.keys.generateSignedPreKey();
    await alice.client.uploadPreKeys(uploadFromKeyManager(alice.keys, await alice.keys.generateOneTimePreKeys(3)));

    const ad = utf8(`${alice.did}|${bob.did}`);
    const [aliceCh, establishment] = await SecureChannel.createSender(alice.keys, (await alice.client.fetchBundle(bob.did))!, ad);
    const bobCh = await SecureChannel.createReceiver(bob.keys, establishment, ad);
    const marker = (i: number) => `PLAINTEXT ${i} ${toHex(crypto.getRandomValues(new Uint8Array(12)))} the quick brown fox pays 1000 EUR to account 42`;
    const plaintexts: string[] = [];
    const frameOf = (from: string, to: string, message: Awaited<ReturnType<SecureChannel['send']>>, x3dh?: unknown) => ({
      v: 1,
      type: 'message',
      from,
      to,
      id: crypto.randomUUID(),
      ts: new Date().toISOString(),
      ...message.toFrame(),
      ...(x3dh ? { x3dh } : {}),
    });

    // Alice → Bob over HTTP (the first carries the establishment); Bob → Alice over WebSocket.
    const toBob = [];
    for (let i = 0; i < 4; i++) {
      plaintexts.push(marker(i));
      const frame = frameOf(alice.did, bob.did, await aliceCh.send(utf8(plaintexts[i]!)), i === 0 ? encodeEstablishment(establishment) : undefined);
      toBob.push(frame);
      const res = await SELF.fetch(await signedRequest(alice.identity, 'POST', `/v1/agents/${bob.did}/inbox`, { body: JSON.stringify(frame) }));
      expect(res.status).toBe(202);
    }
    for (const f of toBob) await bobCh.receive((await import('../../src/wire/encrypted-message.js')).EncryptedMessage.fromFrame(f));
    const socket = await TestSocket.connect(bob.identity);
    open.push(socket);
    for (let i = 4; i < 8; i++) {
      plaintexts.push(marker(i));
      socket.send(frameOf(bob.did, alice.did, await bobCh.send(utf8(plaintexts[i]!))));
      await socket.next((f) => f.type === 'ack');
    }
    // Bob acknowledges half of what he got; the rest waits in his inbox, Alice's inbox holds all of hers.
    await bob.client.ackInbox(toBob.slice(0, 2).map((f) => ({ from: alice.did, id: f.id })));

    const stored = (await dump(alice.did)) + '\n' + (await dump(bob.did));
    expect(stored).toContain('"ciphertext"'); // the frames are there, as ciphertext
    const secrets: [string, Uint8Array][] = [
      ...plaintexts.map((p, i): [string, Uint8Array] => [`plaintext ${i}`, utf8(p)]),
      ['bob signed pre-key (private)', bob.keys.signedPreKey!.keyPair.privateKey],
      ['alice identity seed', alice.identity.secretKey.subarray(0, 32)],
      ['bob identity seed', bob.identity.secretKey.subarray(0, 32)],
      ['bob X25519 identity (private)', bob.keys.identityKey.privateKey],
    ];
    for (const ch of [aliceCh, bobCh]) {
      const s = ch.state;
      secrets.push(['root key', s.rootKey], ['ratchet private key', s.dhSelfPrivate]);
      if (s.chainKeySend) secrets.push(['sending chain key', s.chainKeySend]);
      if (s.chainKeyRecv) secrets.push(['receiving chain key', s.chainKeyRecv]);
    }
    for (const [what, bytes] of secrets) {
      const text = new TextDecoder().decode(bytes);
      if (what.startsWith('plaintext')) {
        expect(stored.includes(text), `${what} in storage`).toBe(false);
        // Any 16-character stretch of it.
        for (let i = 0; i + 16 <= text.length; i += 8) expect(stored.includes(text.slice(i, i + 16)), `${what} (part) in storage`).toBe(false);
      }
      for (const form of encodings(bytes)) expect(stored.includes(form), `${what} in storage as ${form.slice(0, 12)}…`).toBe(false);
    }
    // A control: public keys are stored (the registry publishes them), and the same search finds them.
    expect(stored).toContain(toBase64Url(bob.keys.signedPreKey!.keyPair.publicKey));
    expect(encodings(bob.keys.signedPreKey!.keyPair.publicKey).some((form) => stored.includes(form))).toBe(true);
  });
});
