/**
 * Every parser that takes untrusted input, fed random and mutated input. A parser may accept an
 * input or refuse it with its own typed error (an AgentMeshError subclass listed for it); anything
 * else is a failure: an untyped exception, a crash, a state changed by a refused input, or an input
 * that takes longer than the time box. Handlers that answer peers (the trust handshake, KNOCKs, the
 * relay client) must not throw at all.
 *
 * Input `i` of a run is a function of (seed, i): `runParserFuzz({ seed, start: i, count: 1 })`
 * replays it.
 */
import { decodeEstablishment, encodeEstablishment } from '../src/channel/establishment.js';
import { SecureChannel } from '../src/channel/secure-channel.js';
import { createCryptoProvider, type CryptoProvider } from '../src/crypto/index.js';
import { toBase64Url, utf8 } from '../src/encoding.js';
import { openEnvelope, sealEnvelope } from '../src/wire/action-envelope.js';
import {
  AgentMeshError,
  InvalidBundleError,
  InvalidDidError,
  InvalidEstablishmentError,
  InvalidKeyError,
  InvalidMessageError,
  RatchetStateError,
} from '../src/errors.js';
import { AgentIdentity } from '../src/identity/agent-identity.js';
import { checkDidKey, legacyDidFromPublicKey, parseDid } from '../src/identity/did.js';
import { InvalidFrameError, RegistryError, RequestAuthError } from '../src/net/errors.js';
import { checkAckFrame, checkEnvelope, checkRoutedFrame, createFrame, parseFrame as parseRelayFrame, RELAY_ADDRESS } from '../src/net/frames.js';
import { decodePreKeyUpload, encodePreKeyUpload, uploadFromKeyManager } from '../src/net/prekey-upload.js';
import { RegistryClient } from '../src/net/registry-client.js';
import { RelayClient, type WebSocketLike } from '../src/net/relay-client.js';
import { canonicalRequest, parseAuthorization, parseSignature, parseTimestamp, RequestSigner } from '../src/net/signing.js';
import { RatchetState } from '../src/ratchet/state.js';
import { decodeChannels, decodeMetadata, encodeChannels, encodeMetadata, restoreChannel } from '../src/session/session-record.js';
import { CorruptRecordError, InvalidRecordError } from '../src/storage/errors.js';
import {
  checkCounters,
  checkIdentityRecord,
  checkJson,
  checkOneTimePreKeyRecord,
  checkSessionHead,
  checkSessionRecord,
  checkSignedPreKeyRecord,
} from '../src/storage/records.js';
import { checkBatch } from '../src/storage/store.js';
import { canonicalJson } from '../src/trust/canonical-json.js';
import { parseChallenge, parseResponse } from '../src/trust/challenge.js';
import { InvalidTrustFrameError } from '../src/trust/errors.js';
import { parseFrame as parseTrustFrame, readBoolean } from '../src/trust/frame.js';
import { TrustHandshake } from '../src/trust/handshake.js';
import { KnockExchange } from '../src/trust/knock-exchange.js';
import { parseKnock, parseKnockAnswer } from '../src/trust/knock-frames.js';
import { defaultKnockPolicy } from '../src/trust/knock-policy.js';
import { StaticTrustProvider } from '../src/trust/provider.js';
import type { AgentMeshFrame } from '../src/trust/frame.js';
import { EncryptedMessage } from '../src/wire/encrypted-message.js';
import { decodeBundle, encodeBundle } from '../src/x3dh/bundle.js';
import { X3DHKeyManager } from '../src/x3dh/key-manager.js';
import { DoubleRatchet } from '../src/ratchet/double-ratchet.js';
import { hostileValue, mutateBytes, mutateText, mutateValue, preview, randomJson, randomText, toJsonText } from './mutate.js';
import { Rng } from './rng.js';

type ErrorClass = abstract new (...args: never[]) => AgentMeshError;

export interface ParserTarget {
  readonly name: string;
  /** What the parser takes: raw bytes, JSON text, a parsed value. Inputs are drawn accordingly. */
  readonly accepts: readonly ('bytes' | 'text' | 'value')[];
  readonly samples: readonly unknown[];
  /** The typed errors this parser may throw; `null`: it must not throw at all. */
  readonly errors: readonly ErrorClass[] | null;
  parse(input: unknown): unknown;
  /** After each input: an invariant of the parser's own state (for stateful targets). */
  check?(): void | Promise<void>;
}

export interface ParserFailure {
  seed: number;
  index: number;
  target: string;
  strategy: string;
  kind: 'untyped' | 'wrong-type' | 'slow' | 'state' | 'threw';
  message: string;
  input: string;
  ms: number;
}

export interface ParserFuzzOptions {
  seed: number;
  count: number;
  /** First input index (default 0): with count 1, replays one input. */
  start?: number;
  /** An input that takes longer than this is a failure (default 1000 ms). */
  timeBoxMs?: number;
  /** Only these targets (default all). */
  only?: readonly string[];
  onProgress?: (index: number) => void;
}

export interface ParserFuzzResult {
  seed: number;
  start: number;
  count: number;
  /** Per target: inputs, accepted, refused by error class. */
  stats: Record<string, { inputs: number; accepted: number; refused: Record<string, number>; slowestMs: number }>;
  failures: ParserFailure[];
}

const FIXED_NOW = Date.parse('2026-03-01T12:00:00.000Z');

// ---------------------------------------------------------------------------------------------
// Samples: real values of every format, made once per process.

async function keyManager(crypto: CryptoProvider, identity: AgentIdentity): Promise<X3DHKeyManager> {
  return X3DHKeyManager.fromEd25519Keys(identity.secretKey, identity.publicKey, { crypto, now: () => FIXED_NOW });
}

/** A fake relay socket: `deliver` hands the client a message as the relay would. */
class FakeSocket implements WebSocketLike {
  readyState = 1;
  readonly sent: string[] = [];
  readonly #listeners = new Map<string, ((event: never) => void)[]>();
  send(data: string): void {
    this.sent.push(data);
  }
  close(): void {
    this.readyState = 3;
  }
  addEventListener(type: string, listener: (event: never) => void): void {
    this.#listeners.set(type, [...(this.#listeners.get(type) ?? []), listener]);
  }
  deliver(data: unknown): void {
    for (const l of this.#listeners.get('message') ?? []) l({ data } as never);
  }
}

export async function buildTargets(): Promise<ParserTarget[]> {
  const rng = new Rng(0x5eed);
  const crypto = createCryptoProvider({ curves: 'noble', hashes: 'noble', random: (n) => rng.bytes(n) });
  const alice = await AgentIdentity.fromSeed(rng.bytes(32), { crypto });
  const bob = await AgentIdentity.fromSeed(rng.bytes(32), { crypto });
  const aliceKeys = await keyManager(crypto, alice);
  const bobKeys = await keyManager(crypto, bob);
  await bobKeys.generateSignedPreKey();
  await bobKeys.generateSignedPreKey();
  const otks = await bobKeys.generateOneTimePreKeys(4);

  // A conversation, for messages, states and channel snapshots.
  const ad = utf8(`${alice.did}|${bob.did}`);
  const [aliceCh, establishment] = await SecureChannel.createSender(aliceKeys, bobKeys.getPublicBundle(otks[0]!.keyId), ad, { crypto });
  const bobCh = await SecureChannel.createReceiver(bobKeys, establishment, ad, { crypto });
  const messages: EncryptedMessage[] = [];
  for (let i = 0; i < 4; i++) messages.push(await aliceCh.send(utf8(`message ${i}`)));
  await bobCh.receive(messages[3]!);
  await bobCh.receive(messages[0]!);
  messages.push(await bobCh.send(utf8('reply')));
  const stateDicts = [aliceCh.state.toDict(), bobCh.state.toDict()];

  const bundles = [encodeBundle(bobKeys.getPublicBundle(otks[1]!.keyId)), encodeBundle(bobKeys.getPublicBundle())];
  const establishments = [encodeEstablishment(establishment), encodeEstablishment({ ...establishment, signedPreKeyId: null })];
  const dids = [alice.did, bob.did, legacyDidFromPublicKey(alice.publicKey)];

  const envelope = (type: string, from: string, to: string) => createFrame(type, from, to, {}, { crypto, now: () => FIXED_NOW });
  const relayFrames: unknown[] = [
    { ...envelope('message', alice.did, bob.did), ...messages[1]!.toFrame(), x3dh: establishments[0] },
    { ...envelope('message', bob.did, alice.did), ...messages[4]!.toFrame() },
    { ...envelope('knock', alice.did, bob.did), intent: { action: 'read', description: 'd', capabilities_required: [], trust_minimum: 0 }, signature: toBase64Url(rng.bytes(64)) },
    { ...envelope('knock_accept', bob.did, alice.did), knock_id: 'k', conditions: { max_messages: 1, ttl_seconds: 1, allowed_actions: [] }, signature: toBase64Url(rng.bytes(64)) },
    { ...envelope('knock_reject', bob.did, alice.did), knock_id: 'k', reason: 'insufficient_trust', signature: toBase64Url(rng.bytes(64)) },
    { ...envelope('ack', alice.did, bob.did), ack_id: envelope('x', alice.did, bob.did).id },
    { ...envelope('connect', alice.did, RELAY_ADDRESS), auth: { timestamp: new Date(FIXED_NOW).toISOString(), signature: toBase64Url(rng.bytes(64)) }, supported_versions: [1] },
    { ...envelope('trust_challenge', alice.did, bob.did), challenge: { challenge_id: 'challenge_0011', nonce: 'ab', timestamp: 't', expires_in_seconds: 30 } },
    { ...envelope('error', RELAY_ADDRESS, alice.did), code: 'x', status: 400, message: 'm', ref_id: envelope('x', alice.did, bob.did).id },
  ];

  const upload = encodePreKeyUpload(uploadFromKeyManager(bobKeys, otks.slice(1)));
  const signer = new RequestSigner(alice, { now: () => FIXED_NOW });
  const headers = [await signer.authorization('GET', `/v1/agents/${bob.did}/prekeys`), await signer.authorization('PUT', '/v1/agents', '{}')];

  // Trust: a handshake and a KNOCK exchange on Bob's side, with genuine frames from Alice.
  const now = () => FIXED_NOW;
  const provider = new StaticTrustProvider({ [alice.did]: 800, [bob.did]: 800 });
  const noTransport = { request: async () => Promise.reject(new Error('unused')), listen: () => () => undefined };
  const bobHandshake = new TrustHandshake({ identity: bob, agentDid: bob.did, trustProvider: provider, transport: noTransport, crypto, now });
  const challengeFrame = {
    ...envelope('trust_challenge', alice.did, bob.did),
    challenge: { challenge_id: 'challenge_00112233', nonce: 'aa'.repeat(32), timestamp: new Date(FIXED_NOW).toISOString(), expires_in_seconds: 30 },
  };
  const answer = (await bobHandshake.handleFrame(JSON.parse(JSON.stringify(challengeFrame)))) as AgentMeshFrame & { challenge: { challenge_id: string; nonce: string } };
  const { answerChallenge } = await import('../src/trust/challenge.js');
  const proofFrame = {
    ...envelope('trust_proof', alice.did, bob.did),
    response: await answerChallenge(answer.challenge as never, alice.did, alice, crypto, FIXED_NOW),
  };
  const responseFrame = JSON.parse(JSON.stringify(answer)) as unknown;
  const knocks = new KnockExchange({ agentDid: bob.did, identity: bob, trustProvider: provider, policy: defaultKnockPolicy({ minTrustScore: 500 }), crypto, now });
  const aliceKnocks = new KnockExchange({ agentDid: alice.did, identity: alice, trustProvider: provider, policy: defaultKnockPolicy({ minTrustScore: 500 }), crypto, now });
  const knockSamples: unknown[] = [];
  for (let i = 0; i < 3; i++) knockSamples.push(await aliceKnocks.createKnock(bob.did, { action: `read.${i}`, description: 'fuzz', capabilitiesRequired: [], trustMinimum: 0 }));
  const grantCounts = new Map<string, number>();
  const knockAnswers = [(await knocks.answerKnock(knockSamples[0])).answer];
  grantCounts.set((knockSamples[0] as { id: string }).id, 1);
  const trustFrames: unknown[] = [challengeFrame, responseFrame, proofFrame, ...knockSamples, ...knockAnswers, { ...envelope('trust_result', bob.did, alice.did), verified: true }];

  // Storage and session records.
  const identityRecord = { did: alice.did, publicKey: alice.publicKey, seed: rng.bytes(32), createdAt: FIXED_NOW };
  const spkRecord = { keyId: 1, publicKey: rng.bytes(32), privateKey: rng.bytes(32), signature: rng.bytes(64), createdAt: FIXED_NOW, retiredAt: null };
  const otkRecord = { keyId: 7, publicKey: rng.bytes(32), privateKey: rng.bytes(32) };
  const channels = encodeChannels([aliceCh.snapshot()]);
  const metadata = encodeMetadata({ role: 'initiator', peerIdentityKey: bobKeys.identityKey.publicKey, peerIdentityKeyEd: bob.publicKey, establishment, inboundEphemeralKey: null });
  const sessionRecord = { peerDid: bob.did, revision: 3, channel: channels, metadata, trust: { score: 800 }, createdAt: FIXED_NOW, updatedAt: FIXED_NOW };
  const batches = [
    [{ op: 'addIdentity', record: identityRecord }],
    [{ op: 'putSignedPreKey', record: spkRecord, ifAbsent: true }, { op: 'addOneTimePreKey', record: otkRecord }, { op: 'setCounters', counters: { nextSignedPreKeyId: 2, nextOneTimePreKeyId: 8 }, expected: { nextSignedPreKeyId: 1, nextOneTimePreKeyId: 7 } }],
    [{ op: 'consumeOneTimePreKey', keyId: 7 }, { op: 'putSession', record: { ...sessionRecord, revision: 1 }, expectedRevision: null }],
    [{ op: 'deleteSession', peerDid: bob.did, expectedRevision: 3 }, { op: 'deleteSignedPreKey', keyId: 1 }],
  ];
  const corrupt = (m: string) => new CorruptRecordError(m);

  // The pre-key export of a manager; a refused import must leave the manager as it was.
  const importer = await keyManager(crypto, bob);
  const preKeySet = bobKeys.exportPreKeys();
  await importer.importPreKeys(preKeySet);
  const preKeyText = JSON.stringify(preKeySet);

  // The registry client against a fake fetch that answers with the input.
  let reply: { status: number; body: string } = { status: 200, body: '{}' };
  const registry = new RegistryClient({
    baseUrl: 'http://registry.test',
    identity: alice,
    crypto,
    now,
    fetch: async () => new Response(reply.body, { status: reply.status, headers: { 'content-type': 'application/json' } }),
  });
  const registryReplies: unknown[] = [
    { route: 'getAgent', status: 200, body: { did: bob.did, public_key: toBase64Url(bob.publicKey), capabilities: ['x'], metadata: {}, registered_at: 't', updated_at: 't', trust_score: 500, reputation: { votes: 0, average: null }, online: false, last_seen: null } },
    { route: 'fetchBundle', status: 200, body: bundles[0] },
    { route: 'preKeyStatus', status: 200, body: { did: alice.did, one_time_pre_keys: 3, signed_pre_key: { key_id: 1, created_at: 't' }, retained_signed_pre_keys: [{ key_id: 0, retired_at: 't' }] } },
    { route: 'discover', status: 200, body: { agents: [{ did: bob.did, capabilities: ['x'], trust_score: 500 }], count: 1 } },
    { route: 'fetchInbox', status: 200, body: { frames: [relayFrames[1]], next: null } },
    { route: 'presence', status: 200, body: { did: bob.did, online: true, last_seen: 't' } },
    { route: 'reportReputation', status: 200, body: { did: bob.did, trust_score: 600, reputation: { votes: 1, average: 600 } } },
    { route: 'uploadPreKeys', status: 200, body: { did: alice.did, signed_pre_key_id: 1, one_time_pre_keys: 3 } },
    { route: 'getAgent', status: 429, body: { error: 'rate_limited', message: 'slow down' } },
  ];

  // The relay client's inbound path: a connected client, fed frames as the relay would send them.
  const socket = new FakeSocket();
  const relayErrors: unknown[] = [];
  const relay = new RelayClient({ url: 'http://relay.test', identity: alice, crypto, now, webSocket: () => socket, heartbeatIntervalMs: 3_600_000, idleTimeoutMs: 3_600_000, handshakeTimeoutMs: 3_600_000, sendTimeoutMs: 0, connectTimeoutMs: 0 });
  relay.onEvent((e) => void (e.type === 'error' && relayErrors.push(e.error)));
  const handled: unknown[] = [];
  relay.onFrame((frame) => void handled.push(frame));
  const connecting = relay.connect();
  // The client sends `connect` once its socket is set up; only then does `connected` count.
  for (let i = 0; i < 5000 && socket.sent.length === 0; i++) await new Promise((r) => setTimeout(r, 1));
  socket.deliver(JSON.stringify(envelope('connected', RELAY_ADDRESS, alice.did)));
  await connecting;
  const inboundSamples = [
    JSON.stringify({ ...(relayFrames[1] as object), to: alice.did, from: bob.did }),
    JSON.stringify(envelope('heartbeat', RELAY_ADDRESS, alice.did)),
    JSON.stringify({ ...envelope('ack', RELAY_ADDRESS, alice.did), ack_id: '00000000-0000-4000-8000-000000000000', status: 'stored' }),
    JSON.stringify({ ...envelope('error', RELAY_ADDRESS, alice.did), code: 'inbox_full', message: 'm' }),
  ];

  const targets: ParserTarget[] = [
    {
      name: 'message-binary',
      accepts: ['bytes'],
      samples: messages.map((m) => m.serialize()),
      errors: [InvalidMessageError],
      parse(input) {
        const m = EncryptedMessage.deserialize(input as Uint8Array);
        const again = m.serialize();
        const given = input as Uint8Array;
        if (again.length !== given.length || again.some((b, i) => b !== given[i])) throw new Error('deserialize then serialize does not give the input back');
        return m;
      },
    },
    {
      name: 'action-envelope',
      accepts: ['bytes'],
      samples: [sealEnvelope('reports.read', utf8('body')), sealEnvelope(null, new Uint8Array(0)), sealEnvelope('报告.读取', rng.bytes(64))],
      errors: [InvalidMessageError],
      parse(input) {
        const given = input as Uint8Array;
        const { action, bodyOffset } = openEnvelope(given);
        const again = sealEnvelope(action, given.subarray(bodyOffset));
        if (again.length !== given.length || again.some((b, i) => b !== given[i])) throw new Error('open then seal does not give the envelope back');
        return action;
      },
    },
    {
      name: 'message-frame',
      accepts: ['value', 'text'],
      samples: messages.map((m) => m.toFrame()),
      errors: [InvalidMessageError],
      parse: (input) => EncryptedMessage.fromFrame(input),
    },
    { name: 'bundle', accepts: ['value', 'text'], samples: bundles, errors: [InvalidBundleError], parse: (input) => decodeBundle(input) },
    { name: 'establishment', accepts: ['value', 'text'], samples: establishments, errors: [InvalidEstablishmentError], parse: (input) => decodeEstablishment(input) },
    {
      name: 'did',
      accepts: ['text', 'value'],
      samples: dids,
      errors: [InvalidDidError],
      parse(input) {
        const parsed = parseDid(input);
        checkDidKey(parsed.did, alice.publicKey);
        return parsed;
      },
    },
    {
      name: 'relay-frame',
      accepts: ['text', 'value'],
      samples: relayFrames,
      errors: [InvalidFrameError],
      parse(input) {
        const frame = typeof input === 'string' ? parseRelayFrame(input) : checkEnvelope(input);
        if (frame.type === 'ack') return checkAckFrame(frame);
        if (!['connect', 'connected', 'heartbeat'].includes(frame.type)) return checkRoutedFrame(frame);
        return frame;
      },
    },
    { name: 'prekey-upload', accepts: ['value', 'text'], samples: [upload], errors: [InvalidBundleError], parse: (input) => decodePreKeyUpload(input) },
    {
      name: 'authorization',
      // Typed `string | null`: a header is always text.
      accepts: ['text'],
      samples: headers,
      errors: [RequestAuthError],
      parse(input) {
        const parsed = parseAuthorization(input as string);
        const [, , ts, sig] = String(input).trim().split(/ +/);
        parseTimestamp(ts);
        parseSignature(sig);
        canonicalRequest(parsed.timestamp, String(input).slice(0, 8).toUpperCase().replace(/[^A-Z]/g, '') || 'GET', `/${String(input).slice(0, 40)}`, 'ab');
        return parsed;
      },
    },
    {
      name: 'trust-frame',
      accepts: ['value', 'text'],
      samples: trustFrames,
      errors: [InvalidTrustFrameError],
      parse(input) {
        const frame = parseTrustFrame(input);
        canonicalJson(frame.fields);
        switch (frame.type) {
          case 'knock':
            return parseKnock(frame);
          case 'knock_accept':
          case 'knock_reject':
            return parseKnockAnswer(frame);
          case 'trust_challenge':
            return parseChallenge(frame.fields.challenge);
          case 'trust_response':
            return [parseResponse(frame.fields.response), parseChallenge(frame.fields.challenge)];
          case 'trust_proof':
            return parseResponse(frame.fields.response);
          case 'trust_result':
            return readBoolean(frame.fields, 'verified');
          default:
            return frame;
        }
      },
    },
    {
      name: 'handshake-frame',
      accepts: ['value', 'text'],
      samples: [challengeFrame, proofFrame, responseFrame],
      errors: null,
      async parse(input) {
        const out = await bobHandshake.handleFrame(input);
        if (out !== null) JSON.stringify(out);
        return out;
      },
    },
    {
      name: 'knock-frame',
      accepts: ['value', 'text'],
      samples: knockSamples,
      errors: null,
      async parse(input) {
        const { answer: out, grant } = await knocks.answerKnock(input);
        JSON.stringify(out);
        if (grant) {
          // Only a genuine KNOCK earns a grant, and each KNOCK id at most once.
          if (!knockSamples.some((k) => (k as { id: string }).id === grant.knockId)) throw new Error(`a grant for a KNOCK nobody signed: ${grant.knockId}`);
          const n = (grantCounts.get(grant.knockId) ?? 0) + 1;
          grantCounts.set(grant.knockId, n);
          if (n > 1) throw new Error(`KNOCK ${grant.knockId} was granted ${n} times`);
        }
        return out;
      },
    },
    {
      name: 'ratchet-state',
      accepts: ['value'],
      samples: stateDicts,
      errors: [RatchetStateError],
      parse(input) {
        const state = RatchetState.fromDict(input);
        const again = JSON.stringify(RatchetState.fromDict(JSON.parse(JSON.stringify(state.toDict()))).toDict());
        if (again !== JSON.stringify(state.toDict())) throw new Error('toDict/fromDict is not a round trip');
        void new DoubleRatchet(state, { crypto });
        return state;
      },
    },
    {
      name: 'session-channels',
      accepts: ['value'],
      samples: [channels],
      errors: [CorruptRecordError],
      parse(input) {
        const snapshots = decodeChannels(input);
        return snapshots.map((s) => restoreChannel(s, crypto));
      },
    },
    { name: 'session-metadata', accepts: ['value'], samples: [metadata], errors: [CorruptRecordError], parse: (input) => decodeMetadata(input) },
    {
      name: 'store-records',
      accepts: ['value'],
      samples: [identityRecord, spkRecord, otkRecord, { nextSignedPreKeyId: 1, nextOneTimePreKeyId: 9 }, sessionRecord],
      errors: [CorruptRecordError],
      parse(input) {
        // Each checker on the same input: every one must refuse with the error it was given.
        const results: unknown[] = [];
        for (const checker of [checkIdentityRecord, checkSignedPreKeyRecord, checkOneTimePreKeyRecord, checkCounters, checkSessionHead, checkSessionRecord]) {
          try {
            results.push(checker(input, corrupt));
          } catch (error) {
            if (!(error instanceof CorruptRecordError)) throw error;
          }
        }
        checkJson(input, corrupt, 'value', 1024 * 1024);
        return results;
      },
    },
    { name: 'store-batch', accepts: ['value'], samples: batches, errors: [InvalidRecordError], parse: (input) => checkBatch(input as never) },
    {
      name: 'prekey-import',
      accepts: ['value', 'text'],
      samples: [preKeySet],
      errors: [InvalidKeyError],
      async parse(input) {
        const before = JSON.stringify(importer.exportPreKeys());
        let value = input;
        if (typeof input === 'string') {
          try {
            value = JSON.parse(input);
          } catch {
            return null;
          }
        }
        try {
          await importer.importPreKeys(value);
        } catch (error) {
          if (JSON.stringify(importer.exportPreKeys()) !== before) throw new Error('a refused pre-key import changed the key manager');
          throw error;
        }
        // Accepted (a mutation that kept it valid): put the original back for the next input.
        await importer.importPreKeys(JSON.parse(preKeyText));
        return null;
      },
    },
    {
      name: 'registry-response',
      accepts: ['value'],
      samples: registryReplies,
      errors: [RegistryError, InvalidBundleError, InvalidFrameError, InvalidDidError],
      async parse(input) {
        const r = (typeof input === 'object' && input !== null ? input : {}) as { route?: unknown; status?: unknown; body?: unknown };
        const routes = ['getAgent', 'fetchBundle', 'preKeyStatus', 'discover', 'fetchInbox', 'presence', 'reportReputation', 'uploadPreKeys'];
        const route = routes.includes(r.route as string) ? (r.route as string) : routes[String(typeof r.route).length % routes.length]!;
        const status = typeof r.status === 'number' && Number.isInteger(r.status) && r.status >= 200 && r.status <= 599 ? r.status : 200;
        reply = { status, body: typeof r.body === 'string' ? r.body : toJsonText(r.body) };
        switch (route) {
          case 'getAgent':
            return registry.getAgent(bob.did);
          case 'fetchBundle':
            return registry.fetchBundle(bob.did);
          case 'preKeyStatus':
            return registry.preKeyStatus();
          case 'discover':
            return registry.discover({ capability: 'x' });
          case 'fetchInbox':
            return registry.fetchInbox();
          case 'presence':
            return registry.presence(bob.did);
          case 'reportReputation':
            return registry.reportReputation(bob.did, { score: 500 });
          default:
            return registry.uploadPreKeys(uploadFromKeyManager(bobKeys));
        }
      },
    },
    {
      name: 'relay-inbound',
      accepts: ['text'],
      samples: inboundSamples,
      errors: null,
      async parse(input) {
        const before = relayErrors.length;
        socket.deliver(input);
        await new Promise((r) => setTimeout(r, 0));
        for (const e of relayErrors.splice(before)) {
          if (!(e instanceof AgentMeshError)) throw new Error(`the relay client reported an untyped error: ${String(e)}`);
        }
        if (relay.state !== 'open') throw new Error(`the relay client left the open state: ${relay.state}`);
        return null;
      },
    },
    {
      name: 'canonical-json',
      accepts: ['value'],
      samples: trustFrames,
      errors: [InvalidTrustFrameError],
      parse: (input) => canonicalJson(input),
    },
  ];
  return targets;
}

// ---------------------------------------------------------------------------------------------
// Inputs

function makeInput(rng: Rng, target: ParserTarget): { input: unknown; strategy: string } {
  const form = rng.pick(target.accepts);
  const sample = target.samples.length > 0 ? rng.pick(target.samples) : null;
  const allowNonJson = form === 'value' && rng.chance(0.2);
  if (form === 'bytes') {
    const bytesSamples = target.samples.filter((s): s is Uint8Array => s instanceof Uint8Array);
    const r = rng.int(10);
    if (r < 2 || bytesSamples.length === 0) return { input: rng.bytes(rng.size(400)), strategy: 'random-bytes' };
    return { input: mutateBytes(rng, rng.pick(bytesSamples), bytesSamples), strategy: 'mutate-bytes' };
  }
  const asText = (v: unknown): string => (typeof v === 'string' && rng.chance(0.7) ? v : toJsonText(v));
  const r = rng.int(20);
  if (r < 2) return { input: form === 'text' ? randomText(rng, 400) : randomJson(rng, 4), strategy: 'random' };
  if (r < 4) return { input: form === 'text' ? asText(hostileValue(rng, false)) : hostileValue(rng, allowNonJson), strategy: 'hostile' };
  if (r < 5) return { input: sample, strategy: 'sample' };
  if (form === 'text' && r < 10) return { input: mutateText(rng, asText(sample)), strategy: 'mutate-text' };
  const mutated = typeof sample === 'string' ? (rng.chance(0.5) ? mutateText(rng, sample) : mutateValue(rng, sample, allowNonJson)) : mutateValue(rng, sample, allowNonJson);
  return { input: form === 'text' ? asText(mutated) : mutated, strategy: 'mutate-value' };
}

// ---------------------------------------------------------------------------------------------
// Running

class HangError extends Error {}

let cachedTargets: Promise<ParserTarget[]> | null = null;

export function targets(): Promise<ParserTarget[]> {
  cachedTargets ??= buildTargets();
  return cachedTargets;
}

/** Runs one input against one target; returns a failure description, or null when it behaved. */
export async function runOne(
  target: ParserTarget,
  input: unknown,
  stats: ParserFuzzResult['stats'][string],
  hangMs = 10_000,
): Promise<{ kind: ParserFailure['kind']; message: string } | null> {
  stats.inputs += 1;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    // An asynchronous parser that never settles is a hang, as much as a loop that never ends.
    const hang = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new HangError(`no answer within ${hangMs} ms`)), hangMs);
    });
    await Promise.race([Promise.resolve().then(() => target.parse(input)), hang]);
    stats.accepted += 1;
  } catch (error) {
    if (error instanceof HangError) return { kind: 'slow', message: error.message };
    const name = (error as Error)?.constructor?.name ?? typeof error;
    stats.refused[name] = (stats.refused[name] ?? 0) + 1;
    if (target.errors === null) return { kind: 'threw', message: `${name}: ${(error as Error)?.message ?? String(error)}` };
    if (!(error instanceof AgentMeshError)) return { kind: 'untyped', message: `${name}: ${(error as Error)?.message ?? String(error)}`.slice(0, 500) };
    if (!target.errors.some((c) => error instanceof c)) {
      return { kind: 'wrong-type', message: `${name} (expected ${target.errors.map((c) => c.name).join(' or ')}): ${error.message}`.slice(0, 500) };
    }
  } finally {
    clearTimeout(timer);
  }
  try {
    await target.check?.();
  } catch (error) {
    return { kind: 'state', message: String(error) };
  }
  return null;
}

export async function runParserFuzz(options: ParserFuzzOptions): Promise<ParserFuzzResult> {
  const all = await targets();
  const chosen = options.only ? all.filter((t) => options.only!.includes(t.name)) : all;
  if (chosen.length === 0) throw new Error(`no parser targets match ${JSON.stringify(options.only)}`);
  const timeBox = options.timeBoxMs ?? 1000;
  const start = options.start ?? 0;
  const stats: ParserFuzzResult['stats'] = {};
  for (const t of chosen) stats[t.name] = { inputs: 0, accepted: 0, refused: {}, slowestMs: 0 };
  const failures: ParserFailure[] = [];
  for (let index = start; index < start + options.count; index++) {
    options.onProgress?.(index);
    const rng = new Rng(options.seed, index);
    const target = chosen[index % chosen.length]!;
    const { input, strategy } = makeInput(rng, target);
    const s = stats[target.name]!;
    const t0 = performance.now();
    const failure = await runOne(target, input, s);
    const ms = performance.now() - t0;
    s.slowestMs = Math.max(s.slowestMs, ms);
    const base = { seed: options.seed, index, target: target.name, strategy, input: preview(input), ms: Math.round(ms) };
    if (failure) failures.push({ ...base, ...failure });
    else if (ms > timeBox) failures.push({ ...base, kind: 'slow', message: `took ${Math.round(ms)} ms (time box ${timeBox} ms)` });
  }
  return { seed: options.seed, start, count: options.count, stats, failures };
}
