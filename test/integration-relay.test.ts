// End to end through a real `wrangler dev` (workerd, on-disk Durable Objects) on 127.0.0.1.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket as NodeWebSocket } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalWorker, type LocalWorker } from '../scripts/local-worker.mjs';
import { SecureChannel } from '../src/channel/secure-channel.js';
import { decodeEstablishment, encodeEstablishment } from '../src/channel/establishment.js';
import { fromUtf8, utf8 } from '../src/encoding.js';
import { AgentIdentity } from '../src/identity/agent-identity.js';
import { uploadFromKeyManager } from '../src/net/prekey-upload.js';
import { RegistryClient } from '../src/net/registry-client.js';
import { RelayClient, type RelayClientOptions, type WebSocketLike } from '../src/net/relay-client.js';
import type { RoutedFrame } from '../src/net/frames.js';
import { EncryptedMessage } from '../src/wire/encrypted-message.js';
import { X3DHKeyManager } from '../src/x3dh/key-manager.js';

let worker: LocalWorker;

beforeAll(async () => {
  worker = await startLocalWorker();
}, 120_000);

afterAll(async () => {
  await worker?.stop();
});

interface Agent {
  identity: AgentIdentity;
  did: string;
  registry: RegistryClient;
  keys: X3DHKeyManager;
}

async function agent(oneTimePreKeys = 0): Promise<Agent> {
  const identity = await AgentIdentity.generate();
  const keys = await X3DHKeyManager.fromEd25519Keys(identity.secretKey, identity.publicKey);
  const registry = new RegistryClient({ baseUrl: worker.url, identity });
  await registry.register({ capabilities: ['chat'] });
  await keys.generateSignedPreKey();
  await registry.uploadPreKeys(uploadFromKeyManager(keys, await keys.generateOneTimePreKeys(oneTimePreKeys)));
  return { identity, did: identity.did, registry, keys };
}

/** Node 20 has no global WebSocket: undici's has the browser API. Sockets are kept so a test can cut one. */
function relay(a: Agent, sockets: WebSocketLike[] = [], options: Partial<RelayClientOptions> = {}): RelayClient {
  return new RelayClient({
    url: worker.url,
    identity: a.identity,
    webSocket: (url) => {
      const ws = new NodeWebSocket(url) as unknown as WebSocketLike;
      sockets.push(ws);
      return ws;
    },
    backoff: { initialDelayMs: 100, maxDelayMs: 1000 },
    ...options,
  });
}

describe('integration: wrangler dev', () => {
  it('50 concurrent bundle fetches against 20 one-time pre-keys: 20 distinct keys, 30 nulls', async () => {
    const bob = await agent(20);
    const anonymous = new RegistryClient({ baseUrl: worker.url });
    const bundles = await Promise.all(Array.from({ length: 50 }, () => anonymous.fetchBundle(bob.did)));
    const ids = bundles.map((b) => b!.oneTimePreKeyId).filter((id): id is number => id !== null);
    expect(ids).toHaveLength(20);
    expect(new Set(ids).size).toBe(20);
    expect(bundles.filter((b) => b!.oneTimePreKey === null)).toHaveLength(30);
    // The keys handed out are the ones Bob published, each once.
    expect(new Set(bundles.map((b) => b!.oneTimePreKey && Buffer.from(b!.oneTimePreKey).toString('hex')).filter(Boolean)).size).toBe(20);
    expect((await bob.registry.preKeyStatus()).oneTimePreKeys).toBe(0);
  }, 60_000);

  it('delivers to an offline recipient on reconnect, in order, once; both directions through RelayClient', async () => {
    const alice = await agent();
    const bob = await agent(5);
    const aliceRelay = relay(alice);
    await aliceRelay.connect();

    // Alice runs X3DH against Bob's published bundle and writes while Bob is offline.
    const bundle = (await alice.registry.fetchBundle(bob.did))!;
    const [aliceChannel, establishment] = await SecureChannel.createSender(alice.keys, bundle);
    const frameFor = async (channel: SecureChannel, to: string, text: string, extra: Record<string, unknown> = {}) => ({
      type: 'message',
      to,
      ...(await channel.send(utf8(text))).toFrame(),
      ...extra,
    });
    const first = Array.from({ length: 12 }, (_, i) => `hello ${i}`);
    const receipts = [];
    for (const [i, text] of first.entries()) {
      receipts.push(aliceRelay.send(await frameFor(aliceChannel, bob.did, text, i === 0 ? { x3dh: encodeEstablishment(establishment) } : {})));
    }
    expect((await Promise.all(receipts)).map((r) => r.status)).toEqual(first.map(() => 'stored'));
    expect((await alice.registry.presence(bob.did))?.online).toBe(false);

    // Bob comes online: every message, in order, once; acknowledged after it is "persisted".
    let bobChannel: SecureChannel | null = null;
    const bobGot: string[] = [];
    const bobSockets: WebSocketLike[] = [];
    const bobRelay = relay(bob, bobSockets);
    bobRelay.onFrame(async (frame: RoutedFrame) => {
      if (frame.type !== 'message') return;
      if (!bobChannel) bobChannel = await SecureChannel.createReceiver(bob.keys, decodeEstablishment(frame.x3dh));
      bobGot.push(fromUtf8(await bobChannel.receive(EncryptedMessage.fromFrame(frame))));
    });
    await bobRelay.connect();
    await expect.poll(() => bobGot, { timeout: 10_000 }).toEqual(first);
    await expect.poll(async () => (await bob.registry.fetchInbox()).frames.length, { timeout: 5000 }).toBe(0);

    // And back: Bob replies, Alice (online) gets it at once.
    const aliceGot: string[] = [];
    aliceRelay.onFrame(async (frame) => {
      aliceGot.push(fromUtf8(await aliceChannel.receive(EncryptedMessage.fromFrame(frame))));
    });
    const replies = ['hi alice', 'all twelve arrived'];
    for (const text of replies) expect((await bobRelay.send(await frameFor(bobChannel!, alice.did, text))).status).toBe('delivered');
    await expect.poll(() => aliceGot, { timeout: 10_000 }).toEqual(replies);

    // Bob's connection drops; what Alice sends meanwhile arrives after the reconnect, in order, once.
    const disconnected = new Promise<void>((resolve) => {
      const off = bobRelay.onEvent((e) => {
        if (e.type === 'state' && e.state === 'connecting') {
          off();
          resolve();
        }
      });
    });
    bobSockets.at(-1)!.close(4000, 'network drop');
    await disconnected;
    const second = Array.from({ length: 5 }, (_, i) => `after the drop ${i}`);
    for (const text of second) await aliceRelay.send(await frameFor(aliceChannel, bob.did, text));
    await expect.poll(() => bobGot, { timeout: 10_000 }).toEqual([...first, ...second]);
    await new Promise((r) => setTimeout(r, 300));
    expect(bobGot).toHaveLength(first.length + second.length);
    expect(bobSockets.length).toBeGreaterThanOrEqual(2);

    await aliceRelay.close();
    await bobRelay.close();
  }, 60_000);

  it('keeps registry data and waiting frames across a restart (on-disk state)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agentmesh-state-'));
    const main = worker;
    try {
      worker = await startLocalWorker({ persistTo: dir });
      const alice = await agent();
      const bob = await agent(2);
      const knock = {
        v: 1,
        type: 'knock',
        from: alice.did,
        to: bob.did,
        id: crypto.randomUUID(),
        ts: new Date().toISOString(),
        intent: { action: 'chat', description: 'hello', capabilities_required: [], trust_minimum: 0 },
        signature: Buffer.alloc(64, 1).toString('base64url'),
      };
      await alice.registry.postFrame(knock);
      await worker.stop();
      worker = await startLocalWorker({ persistTo: dir });
      // The clients point at the old port; new ones for the restarted worker.
      const bobAgain = new RegistryClient({ baseUrl: worker.url, identity: bob.identity });
      expect((await bobAgain.getAgent(bob.did))?.did).toBe(bob.did);
      expect((await bobAgain.preKeyStatus()).oneTimePreKeys).toBe(2);
      expect((await bobAgain.fetchInbox()).frames).toEqual([knock]);
    } finally {
      await worker.stop();
      worker = main;
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
