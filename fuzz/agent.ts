/**
 * The MeshAgent part of `npm run fuzz` (issue 14 classes 2–4): victims talk with peers they already
 * know while freshly registered strangers (registration is free) throw handshake requests, mutated
 * challenges and proofs, poisoned establishments, stray answers, KNOCKs and junk at them through a
 * running local Worker. Checked, for every victim: each message with its peer arrives, in order,
 * once, within `slackMs` of that pair's latency measured before the attack; the relay never refuses
 * the victim a frame (`rate_limited`); and no frame of a known peer is rejected.
 *
 * Each attacker sends at most `framesPerAttacker` frames, under the relay's limit per DID, so the
 * run measures the victims' defences rather than the attackers' own limit: more frames, more DIDs.
 */
import { getDefaultCryptoProvider } from '../src/crypto/index.js';
import { fromUtf8, toBase64Url } from '../src/encoding.js';
import { AgentIdentity } from '../src/identity/agent-identity.js';
import { MeshAgent } from '../src/agent/mesh-agent.js';
import { RegistryClient } from '../src/net/registry-client.js';
import { RelayClient, type WebSocketFactory } from '../src/net/relay-client.js';
import { MemoryAgentStore } from '../src/storage/memory.js';
import { newChallenge } from '../src/trust/challenge.js';
import { mutateValue, randomJson, randomText } from './mutate.js';
import { Rng } from './rng.js';

export interface AgentFuzzOptions {
  seed: number;
  /** A running local Worker (`scripts/local-worker.mjs`) with its default limits. */
  url: string;
  webSocket: WebSocketFactory;
  /** Abuse frames in all. */
  frames: number;
  victims?: number;
  /** Frames one attacker DID sends (default 300, half the relay's 600 a minute). */
  framesPerAttacker?: number;
  /** How much slower than before the attack a victim's message may be (default 1000 ms). */
  slackMs?: number;
  log?: (line: string) => void;
}

export interface AgentFuzzResult {
  seed: number;
  frames: number;
  attackers: number;
  victims: number;
  /** Messages between victims and their peers during the attack. */
  messages: number;
  counts: Record<string, number>;
  /** Per victim: latency before the attack and the worst during it (ms). */
  latency: { normalMs: number; worstMs: number }[];
  failures: { kind: string; message: string }[];
}

const KINDS = ['challenge', 'challenge-mutated', 'proof', 'poison', 'stray-message', 'stray-answer', 'knock', 'junk'] as const;
type Kind = (typeof KINDS)[number];

export async function runAgentFuzz(options: AgentFuzzOptions): Promise<AgentFuzzResult> {
  const rng = new Rng(options.seed, 0xa9);
  const crypto = getDefaultCryptoProvider();
  const log = options.log ?? (() => undefined);
  const slackMs = options.slackMs ?? 1000;
  const perAttacker = options.framesPerAttacker ?? 300;
  const counts: Record<string, number> = {};
  const failures: AgentFuzzResult['failures'] = [];
  const bump = (k: string) => void (counts[k] = (counts[k] ?? 0) + 1);
  const fail = (kind: string, message: string) => {
    failures.push({ kind, message: message.slice(0, 500) });
    log(`FAILURE (${kind}): ${message.slice(0, 300)}`);
  };
  const closers: (() => Promise<void>)[] = [];
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const agent = async () => {
    const a = await MeshAgent.create({ registryUrl: options.url, webSocket: options.webSocket, store: new MemoryAgentStore(), upkeepIntervalMs: 0, handshakeTimeoutMs: 2000 });
    closers.push(() => a.close());
    return a;
  };

  try {
    // ── the victims and the peers they know ──────────────────────────────────────────────────
    const pairs: { victim: MeshAgent; peer: MeshAgent; got: string[]; sent: string[]; normalMs: number; worstMs: number }[] = [];
    for (let i = 0; i < (options.victims ?? 3); i++) {
      const victim = await agent();
      const peer = await agent();
      const pair = { victim, peer, got: [] as string[], sent: [] as string[], normalMs: 0, worstMs: 0 };
      peer.onMessage((_from, plaintext) => void pair.got.push(fromUtf8(plaintext)));
      victim.onRejected((r) => {
        bump(`rejected: ${r.error.code}`);
        if (r.from === peer.did) fail('peer-rejected', `victim ${i} rejected its peer's ${r.type}: ${r.error.message}`);
      });
      peer.onRejected((r) => r.from === victim.did && fail('peer-rejected', `peer ${i} rejected the victim's ${r.type}: ${r.error.message}`));
      victim.relay.onEvent((e) => {
        if (e.type === 'error' && (e.error as { code?: string }).code === 'rate_limited') fail('rate-limited', `victim ${i}: ${String(e.error)}`);
      });
      pairs.push(pair);
    }
    /** One message from the victim to its peer; its latency, or null when it never arrived. */
    const exchange = async (pair: (typeof pairs)[number], label: string): Promise<number | null> => {
      const text = `${label} ${pair.sent.length}`;
      pair.sent.push(text);
      const before = pair.got.length;
      const t0 = performance.now();
      try {
        await pair.victim.send(pair.peer.did, text);
      } catch (error) {
        fail('send', `${text}: ${String(error)}`);
        return null;
      }
      const deadline = Date.now() + 30_000;
      while (pair.got.length <= before) {
        if (Date.now() > deadline) {
          fail('lost', `${text} never arrived`);
          return null;
        }
        await sleep(5);
      }
      return performance.now() - t0;
    };
    for (const pair of pairs) {
      await exchange(pair, 'hello');
      for (let i = 0; i < 3; i++) pair.normalMs = Math.max(pair.normalMs, (await exchange(pair, 'before')) ?? 0);
    }

    // ── the strangers ──────────────────────────────────────────────────────────────────────────
    const attackerCount = Math.max(1, Math.ceil(options.frames / perAttacker));
    const attackers: RelayClient[] = [];
    for (let i = 0; i < attackerCount; i++) {
      const identity = await AgentIdentity.fromSeed(rng.bytes(32));
      await new RegistryClient({ baseUrl: options.url, identity }).register();
      // A frame the relay never confirms costs the attacker 5 s, not the default minute.
      const relay = new RelayClient({ url: options.url, identity, webSocket: options.webSocket, sendTimeoutMs: 5000 });
      closers.push(() => relay.close());
      // Strangers never answer and never acknowledge: what they are sent stays in their inbox.
      relay.onFrame(() => {
        bump('answers to strangers');
        throw new Error('silent');
      });
      await relay.connect();
      attackers.push(relay);
    }
    log(`agent: ${pairs.length} victims, ${attackers.length} attacker DIDs, ${options.frames} frames`);

    const key = () => toBase64Url(rng.bytes(32));
    const challenge = () => newChallenge(crypto, Date.now(), rng.pick([5, 30, 300]));
    const abuse = (kind: Kind, to: string): { type: string; to: string } & Record<string, unknown> => {
      switch (kind) {
        case 'challenge':
          return { type: 'trust_challenge', to, challenge: challenge() };
        case 'challenge-mutated':
          return { type: 'trust_challenge', to, challenge: mutateValue(rng, challenge(), false) };
        case 'proof':
          return { type: 'trust_proof', to, response: mutateValue(rng, { challenge_id: `challenge_${rng.int(1 << 30)}`, response_nonce: key(), agent_did: to, public_key: key(), signature: key(), timestamp: new Date().toISOString() }, false) };
        case 'poison':
          return { type: 'message', to, header: { dh: key(), pn: 0, n: 0 }, ciphertext: toBase64Url(rng.bytes(48)), x3dh: { identity_key: key(), ephemeral_key: key(), used_opk_id: rng.chance(0.5) ? null : rng.int(100) } };
        case 'stray-message':
          return { type: 'message', to, header: { dh: key(), pn: rng.int(3), n: rng.int(3) }, ciphertext: toBase64Url(rng.bytes(48)) };
        case 'stray-answer':
          return { type: rng.pick(['trust_response', 'trust_result', 'error']), to, reply_to: globalThis.crypto.randomUUID(), verified: true };
        case 'knock':
          return { type: 'knock', to, intent: { action: randomText(rng, 20), description: randomText(rng, 50), capabilities_required: [], trust_minimum: rng.int(1001) }, signature: key() };
        case 'junk':
          return { type: rng.pick(['message', 'trust_challenge', 'trust_proof', 'knock', `x_${rng.int(100)}`]), to, junk: randomJson(rng) };
      }
    };

    // ── the attack: every attacker sends its share while the victims keep talking ─────────────
    let messages = 0;
    let sent = 0;
    let talking = true;
    const talk = Promise.all(
      pairs.map(async (pair) => {
        while (talking) {
          const ms = await exchange(pair, 'during');
          if (ms === null) return;
          messages += 1;
          pair.worstMs = Math.max(pair.worstMs, ms);
          if (ms > pair.normalMs + slackMs) fail('slow', `a message took ${ms.toFixed(0)} ms, ${pair.normalMs.toFixed(0)} ms before the attack`);
          await sleep(rng.range(20, 200));
        }
      }),
    );
    await Promise.all(
      attackers.map(async (relay, a) => {
        const share = Math.min(perAttacker, options.frames - a * perAttacker);
        for (let i = 0; i < share; i++) {
          const kind = rng.pick(KINDS);
          const to = rng.pick(pairs).victim.did;
          bump(`frame: ${kind}`);
          sent += 1;
          try {
            await relay.send(abuse(kind, to));
          } catch (error) {
            bump(`refused to the attacker: ${(error as { code?: string }).code ?? (error as Error).name}`);
          }
        }
      }),
    );
    // Let the victims work through what is still in flight (a poisoned handshake waits 2 s).
    await sleep(3000);
    talking = false;
    await talk;
    for (const [i, pair] of pairs.entries()) {
      if (pair.got.join('\n') !== pair.sent.join('\n')) fail('order', `victim ${i}'s peer got ${pair.got.length} of ${pair.sent.length} messages, or out of order`);
    }
    return {
      seed: options.seed,
      frames: sent,
      attackers: attackers.length,
      victims: pairs.length,
      messages,
      counts,
      latency: pairs.map((p) => ({ normalMs: Math.round(p.normalMs), worstMs: Math.round(p.worstMs) })),
      failures,
    };
  } finally {
    for (const close of closers.reverse()) await close().catch(() => undefined);
  }
}
