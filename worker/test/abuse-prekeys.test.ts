// Abuse of the pre-key registry: draining a victim's one-time pre-keys, concurrent claims (also
// across a restart of the object), and what the victim's peers get once the pool is empty.
import { SELF, abortAllDurableObjects, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { SecureChannel } from '../../src/channel/secure-channel.js';
import { fromUtf8, utf8 } from '../../src/encoding.js';
import { RegistryClient } from '../../src/net/registry-client.js';
import { uploadFromKeyManager } from '../../src/net/prekey-upload.js';
import type { AgentObject } from '../agent-object.js';
import { BASE, agentStub, fetchSelf, publishedAgent, registeredAgent, type TestAgent } from './helpers.js';

// worker/vitest.config.ts: PREKEY_CLAIMS_PER_MINUTE 40, MAX_ONE_TIME_PRE_KEYS 30, 20 per upload.
const CLAIMS_PER_MINUTE = 40;

type BundleAnswer = { one_time_pre_key: { key_id: number } | null };

async function oneTimeLeft(did: string): Promise<number> {
  return runInDurableObject(agentStub(did), (o: AgentObject) => o.store.oneTimePreKeyCount());
}

/** Marks the live instance of an object; a restart (a new instance on the same storage) loses the mark. */
async function mark(did: string): Promise<void> {
  await runInDurableObject(agentStub(did), (o: AgentObject) => void ((o as unknown as { mark?: true }).mark = true));
}
async function restarted(did: string): Promise<boolean> {
  return runInDurableObject(agentStub(did), (o: AgentObject) => (o as unknown as { mark?: true }).mark === undefined);
}

/** Fetches Bob's bundle as an anonymous caller at `address` (what Cloudflare reports in cf-connecting-ip). */
function fetchFrom(did: string, address: string): Promise<Response> {
  return SELF.fetch(`${BASE}/v1/agents/${did}/prekeys`, { headers: { 'cf-connecting-ip': address } });
}

/** A victim with `n` one-time pre-keys on the registry (uploads of at most 20 at a time). */
async function victim(n: number): Promise<TestAgent> {
  const bob = await publishedAgent(Math.min(n, 20));
  if (n > 20) await bob.client.uploadPreKeys(uploadFromKeyManager(bob.keys, await bob.keys.generateOneTimePreKeys(n - 20)));
  expect(await oneTimeLeft(bob.did)).toBe(n);
  return bob;
}

/** Alice opens a channel to Bob from whatever bundle the registry gives her now; both talk. */
async function sessionStillWorks(alice: TestAgent, bob: TestAgent, expectOneTimeKey: boolean): Promise<void> {
  const bundle = (await alice.client.fetchBundle(bob.did))!;
  expect(bundle.oneTimePreKeyId !== null).toBe(expectOneTimeKey);
  const ad = utf8(`${alice.did}|${bob.did}`);
  const [aliceCh, establishment] = await SecureChannel.createSender(alice.keys, bundle, ad);
  const bobCh = await SecureChannel.createReceiver(bob.keys, establishment, ad);
  expect(fromUtf8(await bobCh.receive((await aliceCh.send(utf8('hello bob'))).serialize()))).toBe('hello bob');
  expect(fromUtf8(await aliceCh.receive((await bobCh.send(utf8('hello alice'))).serialize()))).toBe('hello alice');
}

describe('draining one-time pre-keys', () => {
  it('one anonymous caller gets at most the per-minute budget; refused fetches claim nothing', async () => {
    const bob = await victim(30);
    const mallory = '203.0.113.7';
    const answers: number[] = [];
    for (let i = 0; i < 45; i++) answers.push((await fetchFrom(bob.did, mallory)).status);
    expect(answers.filter((s) => s === 200)).toHaveLength(CLAIMS_PER_MINUTE);
    expect(answers.slice(CLAIMS_PER_MINUTE).every((s) => s === 429)).toBe(true);
    // 30 keys went to the first 30 fetches; the 429s took nothing.
    expect(await oneTimeLeft(bob.did)).toBe(0);
    const res = await fetchFrom(bob.did, mallory);
    expect(res.status).toBe(429);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
  });

  it('one signed caller has one budget, whichever address it comes from', async () => {
    const bob = await victim(30);
    const mallory = await registeredAgent();
    let served = 0;
    for (let i = 0; i < 45; i++) {
      const client = new RegistryClient({
        baseUrl: BASE,
        identity: mallory.identity,
        fetch: (url, init) => fetchSelf(url, { ...init, headers: { ...(init?.headers as Record<string, string>), 'cf-connecting-ip': `198.51.100.${i}` } }),
      });
      try {
        await client.fetchBundle(bob.did);
        served += 1;
      } catch (error) {
        expect(error).toMatchObject({ status: 429, code: 'rate_limited' });
      }
    }
    expect(served).toBe(CLAIMS_PER_MINUTE);
  });

  it('once the pool is drained, peers still get sessions with the signed pre-key alone', async () => {
    const bob = await victim(3);
    const alice = await registeredAgent();
    await alice.keys.generateSignedPreKey();
    // The one-time keys go to an attacker…
    for (let i = 0; i < 3; i++) expect(((await (await fetchFrom(bob.did, '192.0.2.1')).json()) as BundleAnswer).one_time_pre_key).not.toBeNull();
    expect(await oneTimeLeft(bob.did)).toBe(0);
    // …and Alice's session runs X3DH without DH4; it still works both ways.
    await sessionStillWorks(alice, bob, false);
    // Bob tops up; the next peer gets a one-time key again.
    await bob.client.uploadPreKeys(uploadFromKeyManager(bob.keys, await bob.keys.generateOneTimePreKeys(2)));
    await sessionStillWorks(alice, bob, true);
  });

  it('many callers (a Sybil drain) are each limited, and the victim still gets sessions', async () => {
    const bob = await victim(30);
    const alice = await registeredAgent();
    const seen = new Set<number>();
    for (let caller = 0; caller < 4; caller++) {
      for (let i = 0; i < 12; i++) {
        const body = (await (await fetchFrom(bob.did, `192.0.2.${100 + caller}`)).json()) as BundleAnswer;
        if (body.one_time_pre_key) {
          expect(seen.has(body.one_time_pre_key.key_id)).toBe(false);
          seen.add(body.one_time_pre_key.key_id);
        }
      }
    }
    expect(seen.size).toBe(30);
    await sessionStillWorks(alice, bob, false);
  });
});

describe('concurrent claims', () => {
  it('never hand a key out twice, also with uploads racing the claims', async () => {
    const bob = await victim(10);
    const more = await bob.keys.generateOneTimePreKeys(10);
    const fetches = Array.from({ length: 30 }, (_, i) => fetchFrom(bob.did, `10.0.0.${i}`).then((r) => r.json() as Promise<BundleAnswer>));
    const upload = bob.client.uploadPreKeys(uploadFromKeyManager(bob.keys, more));
    const answers = await Promise.all(fetches);
    await upload;
    const ids = answers.map((a) => a.one_time_pre_key?.key_id).filter((id): id is number => id !== undefined);
    expect(new Set(ids).size).toBe(ids.length);
    // Whatever was not handed out is still there, once: the total is the 20 uploaded keys.
    const left = await oneTimeLeft(bob.did);
    expect(ids.length + left).toBe(20);
    const rest = await Promise.all(Array.from({ length: left + 3 }, (_, i) => fetchFrom(bob.did, `10.1.0.${i}`).then((r) => r.json() as Promise<BundleAnswer>)));
    const restIds = rest.map((a) => a.one_time_pre_key?.key_id).filter((id): id is number => id !== undefined);
    expect(restIds).toHaveLength(left);
    for (const id of restIds) expect(ids).not.toContain(id);
  });

  it('never hand a key out twice across a restart of the object in the middle of the claims', async () => {
    const bob = await victim(20);
    await mark(bob.did);
    const handed: number[] = [];
    const collect = (r: PromiseSettledResult<Response>) =>
      r.status === 'fulfilled' && r.value.status === 200
        ? (r.value.json() as Promise<BundleAnswer>).then((a) => void (a.one_time_pre_key && handed.push(a.one_time_pre_key.key_id))).catch(() => undefined)
        : Promise.resolve();
    const wave = Array.from({ length: 15 }, (_, i) => fetchFrom(bob.did, `10.2.0.${i}`));
    const restart = new Promise((r) => setTimeout(r, 1)).then(() => abortAllDurableObjects());
    const settled = await Promise.allSettled(wave);
    await restart;
    expect(await restarted(bob.did)).toBe(true);
    await Promise.all(settled.map(collect));
    // After the restart: everything still in the pool, each key once, none of those already handed out.
    const after = await Promise.allSettled(Array.from({ length: 25 }, (_, i) => fetchFrom(bob.did, `10.3.0.${i}`)));
    await Promise.all(after.map(collect));
    expect(new Set(handed).size).toBe(handed.length);
    expect(handed.length).toBeLessThanOrEqual(20);
    // A key claimed when the restart cut its answer off is gone, never handed out again.
    expect(await oneTimeLeft(bob.did)).toBe(0);
  });
});
