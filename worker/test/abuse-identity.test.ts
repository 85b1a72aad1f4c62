// Someone else's key where an agent's key belongs: at registration, in a pre-key upload, in a
// bundle the registry serves, and in an establishment a hostile relay injects under another
// agent's DID. Each is refused, and the agent it targets keeps working.
import { SELF, runInDurableObject } from 'cloudflare:test';
import { afterEach, describe, expect, it } from 'vitest';
import { MeshAgent, type RejectedFrame } from '../../src/agent/index.js';
import { SecureChannel } from '../../src/channel/secure-channel.js';
import { encodeEstablishment } from '../../src/channel/establishment.js';
import { fromUtf8, toBase64Url, utf8 } from '../../src/encoding.js';
import { InvalidBundleError } from '../../src/errors.js';
import { AgentIdentity } from '../../src/identity/agent-identity.js';
import { encodePreKeyUpload, uploadFromKeyManager } from '../../src/net/prekey-upload.js';
import { IdentityMismatchError } from '../../src/session/errors.js';
import { MemoryAgentStore } from '../../src/storage/memory.js';
import { X3DHKeyManager } from '../../src/x3dh/key-manager.js';
import type { AgentObject } from '../agent-object.js';
import { BASE, agentStub, expectError, fetchSelf, newAgent, publishedAgent, registeredAgent, signedRequest, workerWebSocket } from './helpers.js';

const agents: MeshAgent[] = [];
afterEach(async () => {
  for (const a of agents.splice(0)) await a.close();
});

async function meshAgent(fetch = fetchSelf): Promise<{ agent: MeshAgent; texts: string[]; rejected: RejectedFrame[] }> {
  const agent = await MeshAgent.create({ registryUrl: BASE, fetch, webSocket: workerWebSocket, store: new MemoryAgentStore(), upkeepIntervalMs: 0, handshakeTimeoutMs: 5000 });
  agents.push(agent);
  const texts: string[] = [];
  const rejected: RejectedFrame[] = [];
  agent.onMessage((_from, plaintext) => void texts.push(fromUtf8(plaintext)));
  agent.onRejected((r) => void rejected.push(r));
  return { agent, texts, rejected };
}

/** What a hostile relay can do: put any frame in an agent's inbox, under any sender. */
async function inject(to: string, frame: Record<string, unknown>): Promise<void> {
  const result = await runInDurableObject(agentStub(to), (o: AgentObject) => o.relay.deliverLocal(JSON.stringify(frame), frame.from as string, frame.id as string, Date.now()));
  expect(result.ok).toBe(true);
}

describe('registration and pre-key uploads carrying someone else\'s key', () => {
  it('an agent cannot register under a DID its key does not derive, nor take over a registered one', async () => {
    const bob = await registeredAgent();
    const mallory = await registeredAgent();
    const body = (did: string, key: Uint8Array) => JSON.stringify({ did, public_key: toBase64Url(key), capabilities: [], metadata: {} });
    // Bob's DID with Mallory's key, signed by Mallory.
    await expectError(signedRequest(mallory.identity, 'POST', '/v1/agents', { body: body(bob.did, mallory.identity.publicKey), did: mallory.did }), 400, 'did_mismatch');
    // Bob's DID and key, signed by Mallory (as herself, or claiming to be Bob).
    await expectError(signedRequest(mallory.identity, 'POST', '/v1/agents', { body: body(bob.did, bob.identity.publicKey), did: mallory.did }), 403, 'forbidden');
    await expectError(signedRequest(mallory.identity, 'POST', '/v1/agents', { body: body(bob.did, bob.identity.publicKey), did: bob.did }), 401, 'bad_signature');
    // Bob is still Bob.
    const view = (await (await SELF.fetch(`${BASE}/v1/agents/${bob.did}`)).json()) as { public_key: string };
    expect(view.public_key).toBe(toBase64Url(bob.identity.publicKey));
  });

  it("a pre-key upload with another identity's keys, or a signed pre-key another key signed, is refused", async () => {
    const bob = await publishedAgent(1);
    const mallory = await newAgent();
    await mallory.keys.generateSignedPreKey();
    const good = encodePreKeyUpload(uploadFromKeyManager(bob.keys));
    const evil = encodePreKeyUpload(uploadFromKeyManager(mallory.keys));
    const put = (body: unknown) => signedRequest(bob.identity, 'PUT', `/v1/agents/${bob.did}/prekeys`, { body: JSON.stringify(body) });
    await expectError(put({ ...good, identity_key_ed: evil.identity_key_ed, identity_key: evil.identity_key }), 400, 'identity_mismatch');
    // Mallory's signed pre-key (signed by Mallory) presented as Bob's.
    await expectError(put({ ...good, signed_pre_key: { ...evil.signed_pre_key, key_id: 77 } }), 400, 'bad_signed_pre_key');
    // Bob's key id with Mallory's public key and Bob's signature over another key.
    await expectError(put({ ...good, signed_pre_key: { ...good.signed_pre_key, key_id: 78, public_key: evil.signed_pre_key.public_key } }), 400, 'bad_signed_pre_key');
    // The served bundle is still Bob's own.
    const bundle = (await new (await import('../../src/net/registry-client.js')).RegistryClient({ baseUrl: BASE, fetch: fetchSelf }).fetchBundle(bob.did))!;
    expect(toBase64Url(bundle.identityKeyEd)).toBe(toBase64Url(bob.identity.publicKey));
  });
});

describe('agents refuse keys that are not their peer\'s', () => {
  it("a hostile relay's establishment under Alice's DID, carrying Eve's key, opens no session at Bob", async () => {
    const alice = await meshAgent();
    const bob = await meshAgent();
    // Eve runs X3DH against Bob's published bundle as herself, then frames it as Alice's.
    const eve = await AgentIdentity.generate();
    const eveKeys = await X3DHKeyManager.fromEd25519Keys(eve.secretKey, eve.publicKey);
    const bundle = (await alice.agent.registry.fetchBundle(bob.agent.did))!;
    const ad = utf8(`${alice.agent.did}|${bob.agent.did}`);
    const [eveCh, establishment] = await SecureChannel.createSender(eveKeys, bundle, ad);
    const first = await eveCh.send(utf8('send 1000 EUR to eve'));
    const frame = { v: 1, type: 'message', from: alice.agent.did, to: bob.agent.did, id: crypto.randomUUID(), ts: new Date().toISOString(), ...first.toFrame(), x3dh: encodeEstablishment(establishment) };
    await inject(bob.agent.did, frame);
    // Bob verifies "Alice" through the handshake (the real Alice answers), then sees the key is not hers.
    await expect.poll(() => bob.rejected.length, { timeout: 10_000 }).toBe(1);
    expect(bob.rejected[0]!.error).toBeInstanceOf(IdentityMismatchError);
    expect(bob.texts).toEqual([]);
    expect(await bob.agent.sessions.hasSession(alice.agent.did)).toBe(false);
    // Alice and Bob still open their real session.
    await alice.agent.send(bob.agent.did, 'hello bob');
    await expect.poll(() => bob.texts, { timeout: 10_000 }).toEqual(['hello bob']);
  });

  it("a hostile relay's message under Alice's DID in an open session is rejected and the session goes on", async () => {
    const alice = await meshAgent();
    const bob = await meshAgent();
    await alice.agent.send(bob.agent.did, 'one');
    await expect.poll(() => bob.texts, { timeout: 10_000 }).toEqual(['one']);
    // Eve's own session with Bob gives her well-formed ciphertext, which she sends as Alice's.
    const eve = await AgentIdentity.generate();
    const eveKeys = await X3DHKeyManager.fromEd25519Keys(eve.secretKey, eve.publicKey);
    const [eveCh] = await SecureChannel.createSender(eveKeys, (await alice.agent.registry.fetchBundle(bob.agent.did))!, utf8('x'));
    const forged = await eveCh.send(utf8('forged'));
    await inject(bob.agent.did, { v: 1, type: 'message', from: alice.agent.did, to: bob.agent.did, id: crypto.randomUUID(), ts: new Date().toISOString(), ...forged.toFrame() });
    await expect.poll(() => bob.rejected.length, { timeout: 10_000 }).toBe(1);
    await alice.agent.send(bob.agent.did, 'two');
    await expect.poll(() => bob.texts, { timeout: 10_000 }).toEqual(['one', 'two']);
  });

  it("a registry that serves Eve's bundle for Bob's DID opens no session", async () => {
    const bob = await meshAgent();
    const eve = await publishedAgent(1);
    // Alice's registry answers Bob's bundle requests with Eve's (valid, signed) bundle.
    const lying = (url: string, init?: RequestInit) =>
      url.endsWith(`${bob.agent.did}/prekeys`) && (init?.method ?? 'GET') === 'GET' ? fetchSelf(url.replace(bob.agent.did, eve.did)) : fetchSelf(url, init);
    const alice = await meshAgent(lying);
    await expect(alice.agent.send(bob.agent.did, 'hello')).rejects.toBeInstanceOf(InvalidBundleError);
    expect(await alice.agent.sessions.hasSession(bob.agent.did)).toBe(false);
    expect(bob.texts).toEqual([]);
  });
});
