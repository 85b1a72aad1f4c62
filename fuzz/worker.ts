/// <reference types="node" />
/**
 * The edge service under fire: thousands of requests against a local Worker (`wrangler dev`,
 * SQLite-backed Durable Objects on disk), mixing real traffic (agents with real keys registering,
 * publishing and claiming pre-keys, sending ratchet-encrypted frames, reading, decrypting and
 * acknowledging their inboxes) with abuse: replayed, stale, future and forged signatures, junk and
 * mutated bodies, deep nesting, slow-parse shapes, oversized bodies, concurrent claim and post
 * bursts. Optionally the Worker process is killed outright (SIGKILL) in the middle of a burst and
 * started again on the same state. Checked throughout:
 *
 * - no answer is a 5xx, every error is JSON `{ error, message }`, every answer comes within a bound;
 * - a replayed or forged signature is never accepted; a one-time pre-key is never handed out twice,
 *   also across restarts;
 * - a frame the relay confirmed is delivered to its recipient (and decrypts) until acknowledged, and
 *   is handled once; an acknowledged frame never comes back;
 * - at the end, no plaintext and no private key is anywhere in the Worker's state directory.
 */
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LocalWorker, LocalWorkerOptions } from '../scripts/local-worker.mjs';
import { SecureChannel } from '../src/channel/secure-channel.js';
import { decodeEstablishment, encodeEstablishment } from '../src/channel/establishment.js';
import { fromUtf8, toBase64Url, toHex, utf8 } from '../src/encoding.js';
import { AgentIdentity } from '../src/identity/agent-identity.js';
import { encodePreKeyUpload, uploadFromKeyManager } from '../src/net/prekey-upload.js';
import { AUTH_SCHEME, bodyDigest, canonicalRequest, RequestSigner } from '../src/net/signing.js';
import { EncryptedMessage } from '../src/wire/encrypted-message.js';
import { decodeBundle } from '../src/x3dh/bundle.js';
import { X3DHKeyManager } from '../src/x3dh/key-manager.js';
import { deepText, hostileValue, mutateText, mutateValue, randomText, toJsonText } from './mutate.js';
import { RelayAbuse, schemaFiles, type Victim } from './relay-abuse.js';
import { Rng } from './rng.js';

export interface WorkerFuzzOptions {
  seed: number;
  /** HTTP requests in all (setup included). */
  requests: number;
  /** Kill the Worker process and start it again this many times, spread over the run (default 0). */
  restarts?: number;
  agents?: number;
  /** An answer slower than this is a failure (default 5000 ms). */
  slowMs?: number;
  log?: (line: string) => void;
  /**
   * Run the Worker from a copy of the sources taken at the start (default true): `wrangler dev`
   * reloads on every source change, and other work in the tree would restart it under the run.
   */
  snapshot?: boolean;
  /** How to start the Worker (default: scripts/local-worker.mjs, from a snapshot when `snapshot`). */
  launch?: (options: LocalWorkerOptions) => Promise<LocalWorker>;
  /**
   * Agents of the population that strangers attack (fuzz/relay-abuse.ts: idle sockets, forged
   * upgrades, inbox floods from fresh DIDs, heartbeat floods), each with established peers
   * (default 3; 0 turns the relay abuse off, with the sprays at unregistered DIDs).
   */
  victims?: number;
  /** How much of the traffic is relay abuse: a weight multiplier (default 1). */
  abuseWeight?: number;
  /** Idle unauthenticated sockets held open against each victim in the background (default 10). */
  idleSockets?: number;
}

export interface WorkerFuzzResult {
  seed: number;
  requests: number;
  restarts: number;
  counts: Record<string, number>;
  statuses: Record<string, number>;
  failures: { request: number; kind: string; message: string }[];
  slowestMs: number;
  /** Answer times of all HTTP requests (ms): median, 99th percentile. */
  latency: { p50: number; p99: number };
  /** WebSocket frames sent, and upgrades opened (idle sockets and forged upgrades included). */
  frames: number;
  upgrades: number;
  victims: number;
  /** Fresh DIDs registered to attack, and unregistered DIDs requests were sent about. */
  attackers: number;
  ghosts: number;
  /** Victims denied service beyond the documented limits (each also a failure). */
  denials: number;
  /** The victims' worst connect (signed upgrade to `connected`) and peer-probe delivery (ms). */
  worstConnectMs: number;
  worstProbeMs: number;
  /** Agent objects in the state directory, and those holding tables (only registered agents may). */
  objects: { touched: number; withTables: number; registered: number };
}

class Failure extends Error {}

interface Agent {
  identity: AgentIdentity;
  did: string;
  keys: X3DHKeyManager;
  signer: RequestSigner;
  /** Channels this agent sends on, by peer DID, with the establishment to attach. */
  out: Map<string, { channel: SecureChannel; x3dh: unknown }>;
  /** Channels this agent receives on, by sender DID. */
  in: Map<string, SecureChannel>;
  /** One-time pre-key ids ever handed out by the registry for this agent. */
  handedOut: Set<number>;
  /** Frame ids this agent handled (decrypted and passed on). */
  handled: Set<string>;
  /** Frames sent to this agent and confirmed by the relay, not yet acknowledged: id → plaintext. */
  pending: Map<string, { from: string; plaintext: string }>;
  /** Frame ids acknowledged: they must never come back. */
  acked: Set<string>;
  /** Frames whose acknowledgement got no answer (a restart cut it off): gone or back, both fine. */
  ackUnknown: Set<string>;
  /** Agents this one wrote a frame to (the relay confirmed it): its established peers. */
  wroteTo: Set<string>;
}

interface Unconfirmed {
  from: Agent;
  to: Agent;
  id: string;
  body: string;
  plaintext: string;
}

export async function runWorkerFuzz(options: WorkerFuzzOptions): Promise<WorkerFuzzResult> {
  const rng = new Rng(options.seed, 0x0b);
  const log = options.log ?? (() => undefined);
  const slowMs = options.slowMs ?? 5000;
  const trace = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env.FUZZ_TRACE === '1';
  const persistTo = mkdtempSync(join(tmpdir(), 'agentmesh-fuzz-worker-'));
  const vars = { RATE_LIMIT_PER_MINUTE: '100000', PREKEY_CLAIMS_PER_MINUTE: '100000', INBOX_MAX_PER_SENDER: '200', INBOX_MAX_PER_RECIPIENT: '1000' };
  const { startLocalWorker, dispose } = options.launch ? { startLocalWorker: options.launch, dispose: () => undefined } : await launcher(options.snapshot ?? true);
  const workerLog = (line: string) => log(`[wrangler] ${line}`);
  let worker: LocalWorker = await startLocalWorker({ persistTo, vars, log: workerLog });
  const counts: Record<string, number> = {};
  const statuses: Record<string, number> = {};
  const failures: WorkerFuzzResult['failures'] = [];
  const bump = (k: string) => void (counts[k] = (counts[k] ?? 0) + 1);
  let requests = 0;
  let slowest = 0;
  let restarts = 0;
  const markers: string[] = [];
  const secrets: Uint8Array[] = [];
  /** Copies a private key to search for later (the key managers zero theirs when they use them). */
  const keep = (key: Uint8Array) => void (secrets.length < 2000 && secrets.push(new Uint8Array(key)));
  const unconfirmed: Unconfirmed[] = [];
  /** Signed requests that were accepted, to replay later: [method, path, headers, body]. */
  const used: [string, string, Record<string, string>, string | undefined][] = [];

  const fail = (kind: string, message: string) => {
    failures.push({ request: requests, kind, message: message.slice(0, 800) });
    log(`FAILURE at request ${requests} (${kind}): ${message.slice(0, 300)}`);
  };
  let denials = 0;
  const deny = (message: string) => {
    denials += 1;
    fail('victim-denied', message);
  };
  const answerMs: number[] = [];
  let frames = 0;
  let upgrades = 0;
  let abuse: RelayAbuse | null = null;
  let objects = { touched: 0, withTables: 0, registered: 0 };
  let victimCount = 0;
  const victimDids = new Set<string>();

  /** One request; checks what every answer must satisfy; returns status and parsed body. */
  async function call(method: string, path: string, init: { headers?: Record<string, string>; body?: string | Uint8Array; kind: string }): Promise<{ status: number; body: unknown; ms: number } | null> {
    requests += 1;
    bump(`request: ${init.kind}`);
    if (trace) log(`> ${requests} ${init.kind} ${method} ${path.slice(0, 100)} body ${init.body?.length ?? 'none'}`);
    const started = performance.now();
    let res: Response;
    try {
      res = await fetch(worker.url + path, { method, headers: init.headers, body: init.body as BodyInit | undefined, signal: AbortSignal.timeout(30_000) });
    } catch (error) {
      // The Worker is being killed by a restart in the middle of this request: no answer, no claim.
      if (restarting) return null;
      fail('network', `${method} ${path.slice(0, 80)}: ${String(error)}`);
      return null;
    }
    let text: string;
    try {
      text = await res.text();
    } catch (error) {
      if (restarting) return null;
      fail('network', `${method} ${path.slice(0, 80)}: the answer broke off: ${String(error)}`);
      return null;
    }
    const ms = performance.now() - started;
    if (res.status === 503 && text.includes('restarted mid-request')) {
      // wrangler dev's own answer when the Worker restarts under a request: the request's outcome
      // is unknown, exactly as when the connection drops. Only our restarts may cause it.
      bump('answered "restarted mid-request" by the runtime');
      if (!restarting) fail('runtime-restart', `${method} ${path.slice(0, 80)}: the Worker restarted on its own`);
      return null;
    }
    slowest = Math.max(slowest, ms);
    answerMs.push(ms);
    statuses[res.status] = (statuses[res.status] ?? 0) + 1;
    if (ms > slowMs) fail('slow', `${init.kind}: ${method} ${path.slice(0, 80)} took ${Math.round(ms)} ms`);
    if (res.status >= 500) fail('5xx', `${init.kind}: ${method} ${path.slice(0, 80)} → ${res.status} ${text.slice(0, 200)}`);
    let body: unknown = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      if (res.status !== 101 && res.status !== 204) fail('not-json', `${init.kind}: ${method} ${path.slice(0, 80)} → ${res.status} ${text.slice(0, 100)}`);
    }
    if (res.status >= 400) {
      const e = body as { error?: unknown; message?: unknown } | null;
      if (typeof e?.error !== 'string' || typeof e?.message !== 'string') fail('error-shape', `${init.kind}: ${res.status} ${text.slice(0, 200)}`);
    }
    return { status: res.status, body, ms };
  }

  async function signed(a: Agent, method: string, path: string, body: string | undefined, kind: string, replayable = true) {
    const authorization = await a.signer.authorization(method, path, body);
    const headers: Record<string, string> = { authorization, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) };
    const r = await call(method, path, { headers, body, kind });
    if (r && r.status < 300 && replayable && used.length < 5000) used.push([method, path, headers, body]);
    return r;
  }

  const expectStatus = (r: { status: number; body: unknown } | null, ok: number[], what: string) => {
    if (r && !ok.includes(r.status)) fail('status', `${what}: expected ${ok.join('/')}, got ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
  };

  // ── population ───────────────────────────────────────────────────────────────────────────────
  const agents: Agent[] = [];
  const junkAgents: Agent[] = [];
  const population = new Set<string>();
  async function newAgent(): Promise<Agent> {
    const identity = await AgentIdentity.fromSeed(rng.bytes(32));
    const keys = await X3DHKeyManager.fromEd25519Keys(identity.secretKey, identity.publicKey);
    keep(identity.secretKey.subarray(0, 32));
    return {
      identity,
      did: identity.did,
      keys,
      signer: new RequestSigner(identity),
      out: new Map(),
      in: new Map(),
      handedOut: new Set(),
      handled: new Set(),
      pending: new Map(),
      acked: new Set(),
      ackUnknown: new Set(),
      wroteTo: new Set(),
    };
  }

  /** DIDs registered (their objects hold tables), and registrations whose outcome a restart hid. */
  const registeredDids = new Set<string>();
  let registrationsUnknown = 0;
  async function register(a: Agent) {
    const body = JSON.stringify({ did: a.did, public_key: toBase64Url(a.identity.publicKey), capabilities: ['fuzz'], metadata: { n: rng.int(100) } });
    const r = await signed(a, 'POST', '/v1/agents', body, 'register');
    expectStatus(r, [200, 201], 'register');
    if (r && r.status < 300) registeredDids.add(a.did);
    else if (!r) registrationsUnknown += 1;
  }

  async function upload(a: Agent, count: number) {
    if (!a.keys.signedPreKey || rng.chance(0.05)) {
      await a.keys.generateSignedPreKey();
      keep(a.keys.signedPreKey!.keyPair.privateKey);
    }
    const otks = await a.keys.generateOneTimePreKeys(count);
    for (const k of otks) keep(k.keyPair.privateKey);
    const body = JSON.stringify(encodePreKeyUpload(uploadFromKeyManager(a.keys, otks)));
    const r = await signed(a, 'PUT', `/v1/agents/${a.did}/prekeys`, body, 'upload pre-keys');
    expectStatus(r, [200, 409], 'upload pre-keys');
  }

  function checkClaim(a: Agent, body: unknown) {
    const bundle = decodeBundle(body);
    if (bundle.oneTimePreKeyId !== null) {
      if (a.handedOut.has(bundle.oneTimePreKeyId)) throw new Failure(`one-time pre-key ${bundle.oneTimePreKeyId} of ${a.did} handed out twice`);
      a.handedOut.add(bundle.oneTimePreKeyId);
    }
    return bundle;
  }

  async function claim(by: Agent | null, of: Agent, kind = 'claim') {
    const path = `/v1/agents/${of.did}/prekeys`;
    const r = by ? await signed(by, 'GET', path, undefined, kind) : await call('GET', path, { kind, headers: { 'cf-connecting-ip': `198.51.100.${rng.int(250)}` } });
    if (!r) return null;
    expectStatus(r, [200, 429], kind);
    return r.status === 200 ? checkClaim(of, r.body) : null;
  }

  async function sendFrame(from: Agent, to: Agent) {
    let link = from.out.get(to.did);
    if (!link) {
      const bundle = await claim(from, to, 'claim for a session');
      if (!bundle) return;
      const ad = utf8(`${from.did}|${to.did}`);
      const [channel, establishment] = await SecureChannel.createSender(from.keys, bundle, ad);
      link = { channel, x3dh: encodeEstablishment(establishment) };
      from.out.set(to.did, link);
    }
    const plaintext = `MARKER-${toHex(rng.bytes(10))} ${from.did.slice(-6)}→${to.did.slice(-6)} pay 1000`;
    markers.push(plaintext);
    const message = await link.channel.send(utf8(plaintext));
    const frame = { v: 1, type: 'message', from: from.did, to: to.did, id: crypto.randomUUID(), ts: new Date().toISOString(), ...message.toFrame(), x3dh: link.x3dh };
    await post({ from, to, id: frame.id, body: JSON.stringify(frame), plaintext }, true);
  }

  /**
   * An established peer's frame was refused. Only the peer's own share (200 frames per sender
   * here) or a recipient full of established peers' frames (1 000 in all, of which strangers hold
   * at most 250) may refuse it: a limit strangers fill never may.
   */
  function deniedPeer(u: Unconfirmed, r: { status: number; body: unknown }) {
    const message = String((r.body as { message?: unknown } | null)?.message);
    const fromPeer = [...u.to.pending.values()].filter((p) => p.from === u.from.did).length;
    const documented =
      r.status === 429 &&
      ((message.includes('your frames') && fromPeer >= 190) || (message.includes('recipient has too many frames waiting') && !message.includes('not written to') && u.to.pending.size >= 700));
    if (documented) bump("established peer's frame refused by its own share (documented)");
    else deny(`${u.from.did.slice(-8)}'s frame to ${u.to.did.slice(-8)}, which wrote to it, was refused: ${r.status} ${message} (${fromPeer} of its frames and ${u.to.pending.size} in all known pending)`);
  }

  /** Posts a frame; one the relay did not answer waits in `unconfirmed` and goes again, same id. */
  async function post(u: Unconfirmed, fresh: boolean) {
    const r = await signed(u.from, 'POST', `/v1/agents/${u.to.did}/inbox`, u.body, fresh ? 'post frame' : 'post frame again');
    if (!r) {
      unconfirmed.push(u);
      return;
    }
    expectStatus(r, [202, 429], 'post frame');
    if (r.status !== 202) {
      if (u.to.wroteTo.has(u.from.did)) deniedPeer(u, r);
      return;
    }
    u.from.wroteTo.add(u.to.did);
    if (u.to.wroteTo.has(u.from.did) && victimDids.has(u.to.did)) bump("established peers' frames to victims accepted");
    const status = (r.body as { status?: string }).status;
    if (status === 'duplicate' && fresh) fail('dedup', 'a fresh frame was answered "duplicate"');
    if (status === 'duplicate' && !fresh) bump('frames confirmed as duplicates after a restart');
    if (!u.to.handled.has(u.id) && !u.to.acked.has(u.id)) u.to.pending.set(u.id, { from: u.from.did, plaintext: u.plaintext });
  }

  /** Reads the inbox, decrypts what is new, acknowledges some of it; checks delivery properties. */
  async function readInbox(a: Agent) {
    // Page by page (100 frames or 512 KiB each): strangers' frames can fill several.
    const frames: Record<string, unknown>[] = [];
    let last = false;
    for (let page = 0, after = 0; page < 24; page++) {
      const r = await signed(a, 'GET', `/v1/agents/${a.did}/inbox?limit=100${after ? `&after=${after}` : ''}`, undefined, 'read inbox');
      if (!r || r.status !== 200) return r && expectStatus(r, [200], 'read inbox');
      const body = r.body as { frames: Record<string, unknown>[]; next: number | null };
      frames.push(...body.frames);
      if (body.next === null) {
        last = true;
        break;
      }
      after = body.next;
    }
    const seen = new Set<string>();
    const acks: { from: string; id: string }[] = [];
    for (const f of frames) {
      const id = f.id as string;
      if (seen.has(id)) fail('dup-delivery', `frame ${id} appears twice in one inbox read`);
      seen.add(id);
      if (!population.has(f.from as string) || abuse?.probes.has(id)) {
        // From a junk sender: whatever it is, it is acknowledged and dropped; a victim mostly
        // leaves strangers' frames where they are (the inbox-locking attack), and purges them.
        if (!victimDids.has(a.did) || rng.chance(0.1)) acks.push({ from: f.from as string, id });
        bump('junk frames received');
        continue;
      }
      if (a.acked.has(id) && !a.ackUnknown.has(id)) fail('acked-returned', `acknowledged frame ${id} came back`);
      const expected = a.pending.get(id) ?? unconfirmed.find((u) => u.id === id && u.to === a);
      if (!a.handled.has(id)) {
        if (!expected) {
          fail('unknown-frame', `frame ${id} in ${a.did}'s inbox was never sent`);
          continue;
        }
        let channel = a.in.get(f.from as string);
        if (!channel) {
          const est = decodeEstablishment(f.x3dh);
          channel = await SecureChannel.createReceiver(a.keys, est, utf8(`${f.from as string}|${a.did}`));
          a.in.set(f.from as string, channel);
        }
        const plaintext = fromUtf8(await channel.receive(EncryptedMessage.fromFrame(f)));
        if (plaintext !== expected.plaintext) fail('wrong-plaintext', `frame ${id} decrypted to something else`);
        a.handled.add(id);
        bump('frames decrypted');
      } else {
        bump('frames seen again (not acknowledged before a restart)');
      }
      if (rng.chance(0.8)) acks.push({ from: f.from as string, id });
    }
    // Everything confirmed and not acknowledged must be there, once the page was the last one
    // (pages hold 100 frames or 512 KiB; strangers' frames can fill several).
    if (last && !restarting) {
      for (const id of a.pending.keys()) if (!seen.has(id) && !a.ackUnknown.has(id)) fail('lost', `confirmed frame ${id} is missing from ${a.did}'s inbox`);
    }
    for (let i = 0; i < acks.length; i += 100) {
      const chunk = acks.slice(i, i + 100);
      const ack = await signed(a, 'POST', `/v1/agents/${a.did}/inbox/ack`, JSON.stringify({ acks: chunk }), 'ack');
      for (const k of chunk) {
        if (ack?.status === 200) {
          a.pending.delete(k.id);
          a.acked.add(k.id);
          a.ackUnknown.delete(k.id);
        } else if (!ack) {
          a.ackUnknown.add(k.id);
          a.acked.add(k.id);
        }
      }
    }
  }

  // ── abuse ────────────────────────────────────────────────────────────────────────────────────
  async function replay() {
    if (used.length === 0) return;
    const [method, path, headers, body] = rng.pick(used);
    const r = await call(method, path, { headers, body, kind: 'replayed signature' });
    if (r && r.status < 400) fail('replay-accepted', `a replayed ${method} ${path} was accepted (${r.status})`);
    if (r) expectStatus(r, [401, 404, 429], 'replayed signature');
  }

  async function badSignature(a: Agent, victim: Agent) {
    const path = rng.pick([`/v1/agents/${victim.did}/prekeys/count`, `/v1/agents/${victim.did}/inbox`, `/v1/agents/${victim.did}`]);
    const method = path.endsWith(victim.did) ? 'DELETE' : 'GET';
    const ts = new Date(Date.now() + rng.pick([0, -6 * 60_000, 6 * 60_000, -3_600_000])).toISOString();
    const how = rng.int(4);
    const sig = how === 0 ? toBase64Url(rng.bytes(64)) : toBase64Url(await a.identity.sign(canonicalRequest(ts, method, path, bodyDigest())));
    const claimed = how === 1 ? victim.did : a.did;
    const header = how === 3 ? `${AUTH_SCHEME} ${claimed} ${ts} ${toBase64Url(await a.identity.sign(utf8(ts)))}` : `${AUTH_SCHEME} ${claimed} ${ts} ${sig}`;
    const r = await call(method, path, { headers: { authorization: header }, kind: 'forged signature' });
    if (r && r.status < 400) fail('forged-accepted', `a forged, stale or foreign request ${method} ${path} was accepted (${r.status})`);
  }

  async function junk(a: Agent) {
    // Junk is signed by agents outside the population, so that a mutation that happens to be a
    // valid request (a frame, an upload) cannot disturb what the population checks.
    const victim = rng.pick(agents);
    const paths = ['/v1/agents', `/v1/agents/${victim.did}`, `/v1/agents/${victim.did}/prekeys`, `/v1/agents/${victim.did}/inbox`, `/v1/agents/${victim.did}/inbox/ack`, `/v1/agents/${victim.did}/reputation`, `/v1/agents/${victim.did}/prekeys/count`, '/v1/discover?capability=fuzz', `/v1/agents/${victim.did}/presence`];
    let path = rng.pick(paths);
    if (rng.chance(0.15)) path = rng.pick([`/v1/agents/${encodeURIComponent(randomText(rng, 40))}`, `/v1/${randomText(rng, 20)}`, `/v1/agents/%E0%A4%A/x`, `/v1/agents/${'a'.repeat(2000)}`, '/v1/discover?capability=' + '%'.repeat(10)]);
    const method = rng.pick(['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']);
    const samples: unknown[] = [
      { did: a.did, public_key: toBase64Url(a.identity.publicKey), capabilities: ['x'], metadata: {} },
      a.keys.signedPreKey ? encodePreKeyUpload(uploadFromKeyManager(a.keys)) : {},
      { v: 1, type: 'message', from: a.did, to: victim.did, id: crypto.randomUUID(), ts: new Date().toISOString(), header: { dh: toBase64Url(rng.bytes(32)), pn: 0, n: 0 }, ciphertext: toBase64Url(rng.bytes(60)) },
      { acks: [{ from: victim.did, id: crypto.randomUUID() }] },
      { score: 500, comment: 'ok' },
    ];
    const shape = rng.int(10);
    let body: string | Uint8Array | undefined;
    if (shape < 4) body = toJsonText(mutateValue(rng, rng.pick(samples), false));
    else if (shape < 6) body = mutateText(rng, toJsonText(rng.pick(samples)));
    else if (shape === 6) body = rng.chance(0.5) ? deepText(rng.pick([40, 3000, 30_000]), 'array') : `{"did":${deepText(rng.pick([40, 3000]), 'object')}}`;
    else if (shape === 7) body = toJsonText({ ...(rng.pick(samples) as object), [rng.pick(['identity_key', 'ciphertext', 'public_key', 'signature'])]: '='.repeat(rng.pick([10_000, 60_000, 120_000])) + 'A' });
    else if (shape === 8) body = rng.bytes(rng.size(2000));
    else body = toJsonText(hostileValue(rng, false));
    if (typeof body === 'string' && body.length > 600_000) body = body.slice(0, 600_000);
    const sign = rng.chance(0.5) && typeof body === 'string';
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (sign && path.startsWith('/')) {
      try {
        headers.authorization = await a.signer.authorization(method === 'OPTIONS' ? 'GET' : method, path, body as string);
      } catch {
        // A path the signer refuses to sign (whitespace, too long): send it unsigned.
      }
    }
    const r = await call(method, path, { headers, body: method === 'GET' || method === 'OPTIONS' ? undefined : body, kind: `junk ${['mutated', 'mutated', 'mutated', 'mutated', 'text', 'text', 'deep', 'padding', 'bytes', 'hostile'][shape]}` });
    void r;
  }

  async function burst(victim: Agent) {
    // Concurrent claims on one victim: no key twice.
    const answers = await Promise.all(Array.from({ length: 10 }, () => call('GET', `/v1/agents/${victim.did}/prekeys`, { kind: 'concurrent claim', headers: { 'cf-connecting-ip': `203.0.113.${rng.int(250)}` } })));
    for (const r of answers) if (r?.status === 200) checkClaim(victim, r.body);
  }

  // ── restarts ─────────────────────────────────────────────────────────────────────────────────
  let restarting = false;
  async function restart() {
    restarting = true;
    // A burst in flight, then SIGKILL: no graceful shutdown, requests cut off mid-way.
    const victim = rng.pick(agents);
    const sender = rng.pick(agents.filter((x) => x !== victim));
    const inflight = Promise.all([burst(victim), sendFrame(sender, victim), sendFrame(sender, victim), readInbox(victim)].map((p) => p.catch((e) => fail('exception', String(e)))));
    await new Promise((r) => setTimeout(r, rng.int(30)));
    try {
      process.kill(-worker.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
    await inflight;
    await worker.stop().catch(() => undefined);
    worker = await startLocalWorker({ persistTo, vars, log: workerLog });
    restarting = false;
    restarts += 1;
    bump('restart');
    log(`restart ${restarts}: worker back at ${worker.url}`);
    // Senders send again what the relay never confirmed (same ids: stored once, or "duplicate").
    for (const u of unconfirmed.splice(0)) await post(u, false);
    // Every frame still pending must be delivered after the restart.
    for (const a of agents) await readInbox(a);
    // Replays of signatures accepted before the restart stay refused.
    for (let i = 0; i < 5; i++) await replay();
  }

  /**
   * Regression probes: a body the Worker does not read to the end (sent to a route that ignores
   * bodies, or over a size limit, declared or streamed) once stalled the next request for as long
   * as that request waited (30 s here) under wrangler dev.
   */
  async function unreadBodies() {
    const someone = rng.pick(agents);
    const big = (n: number) => 'x'.repeat(n);
    const chunked = (n: number) =>
      new ReadableStream<Uint8Array>({
        start(controller) {
          for (let i = 0; i < n; i += 16_384) controller.enqueue(new Uint8Array(Math.min(16_384, n - i)).fill(0x20));
          controller.close();
        },
      });
    const probes: [string, string, () => BodyInit][] = [
      ['POST', '/v1/discover?capability=fuzz', () => big(10)],
      ['DELETE', '/v1/discover', () => big(5000)],
      ['POST', '/v1/edge-agent', () => big(10)],
      ['POST', '/v1/edge-agent/restart', () => big(5000)],
      ['PUT', '/v1/edge-agent/restart', () => chunked(200_000)],
      ['POST', '/v1/agents', () => big(300_000)],
      ['POST', `/v1/agents/${someone.did}/inbox/ack`, () => big(600_000)],
      ['POST', `/v1/agents/${someone.did}/reputation`, () => chunked(500_000)],
      ['PUT', `/v1/agents/${someone.did}/prekeys`, () => chunked(1_000_000)],
    ];
    for (const [method, path, body] of probes) {
      requests += 1;
      bump('request: unread body');
      const res = await fetch(worker.url + path, { method, body: body(), duplex: 'half', signal: AbortSignal.timeout(30_000) } as RequestInit).catch((e: unknown) => e);
      if (res instanceof Response) {
        await res.text();
        // 403: edge-agent restarts are off unless EDGE_AGENT_RESTART is set.
        if (![403, 404, 405, 413].includes(res.status)) fail('status', `${method} ${path} with an unread body: ${res.status}`);
      } else fail('network', `${method} ${path} with an unread body: ${String(res)}`);
      const fresh = (await AgentIdentity.fromSeed(rng.bytes(32))).did;
      const r = await call('GET', `/v1/agents/${fresh}/prekeys`, { kind: 'after an unread body' });
      if (r && r.ms > 2000) fail('stalled', `the request after ${method} ${path} with an unread body took ${Math.round(r.ms)} ms`);
    }
  }

  // ── the run ──────────────────────────────────────────────────────────────────────────────────
  try {
    for (let i = 0; i < (options.agents ?? 10); i++) {
      const a = await newAgent();
      agents.push(a);
      population.add(a.did);
      await register(a);
      await upload(a, 20);
    }
    for (let i = 0; i < 2; i++) {
      const j = await newAgent();
      junkAgents.push(j);
      await register(j);
      await upload(j, 5);
    }
    await unreadBodies();
    // The victims: agents that wrote to two others (their established peers), then are attacked.
    const victims: { agent: Agent; victim: Victim }[] = [];
    for (const [i, v] of agents.slice(0, Math.min(options.victims ?? 3, agents.length - 2)).entries()) {
      for (const p of agents.filter((x) => x !== v).slice(i, i + 2)) await sendFrame(v, p);
      const victim: Victim = {
        identity: v.identity,
        did: v.did,
        signer: v.signer,
        address: `10.0.0.${i + 1}`,
        get peers() {
          return agents.filter((p) => v.wroteTo.has(p.did)).map((p) => ({ did: p.did, signer: p.signer }));
        },
      };
      victims.push({ agent: v, victim });
      victimDids.add(v.did);
    }
    victimCount = victims.length;
    if (victims.length > 0) {
      abuse = new RelayAbuse(
        {
          rng,
          url: () => worker.url,
          restarting: () => restarting,
          call,
          bump,
          fail,
          deny,
          registered: (did, known) => void (known ? registeredDids.add(did) : (registrationsUnknown += 1)),
          counted: (what) => void (what === 'frame' ? (frames += 1) : (upgrades += 1)),
        },
        victims.map((v) => v.victim),
        { seed: options.seed, idleSockets: options.idleSockets },
      );
    }
    const w = options.abuseWeight ?? 1;
    const restartEvery = options.restarts ? Math.floor(options.requests / (options.restarts + 1)) : Infinity;
    let nextRestart = restartEvery;
    while (requests < options.requests) {
      if (requests >= nextRestart && restarts < (options.restarts ?? 0)) {
        nextRestart += restartEvery;
        await restart();
        continue;
      }
      const a = rng.pick(agents);
      const b = rng.pick(agents.filter((x) => x !== a));
      try {
        const relayAbuse: [number, string][] = abuse ? [[0.6 * w, 'siege'], [0.35 * w, 'flood'], [2 * w, 'spray']] : [];
        switch (rng.weighted<string>([[6, 'send'], [3, 'read'], [3, 'claim'], [1, 'upload'], [2, 'replay'], [2, 'forged'], [5, 'junk'], [0.5, 'burst'], [0.3, 'register'], ...relayAbuse])) {
          case 'send':
            if (a.out.size < 6 || a.out.has(b.did)) await sendFrame(a, b);
            break;
          case 'read':
            await readInbox(a);
            break;
          case 'claim':
            await claim(rng.chance(0.5) ? a : null, b);
            break;
          case 'upload':
            await upload(a, 1 + rng.int(10));
            break;
          case 'replay':
            await replay();
            break;
          case 'forged':
            await badSignature(a, b);
            break;
          case 'junk':
            await junk(rng.pick(junkAgents));
            break;
          case 'burst':
            await burst(b);
            break;
          case 'register':
            await register(a);
            break;
          case 'siege':
            await abuse!.siege(rng.pick(victims).victim);
            break;
          case 'flood': {
            // Fresh DIDs fill the victim's strangers' pool; then each established peer writes to it.
            const { agent: v, victim } = rng.pick(victims);
            const strangers = await abuse!.flood(victim);
            for (const p of agents.filter((x) => v.wroteTo.has(x.did))) await sendFrame(p, v);
            if (rng.chance(0.3)) await abuse!.purge(victim, strangers);
            break;
          }
          case 'spray':
            await abuse!.spray();
            break;
        }
      } catch (error) {
        fail(error instanceof Failure ? 'property' : 'exception', (error as Error)?.stack ?? String(error));
      }
    }
    abuse?.stop();
    // Drain: what was never confirmed goes again; every confirmed frame arrives (strangers'
    // frames, acknowledged as they come, can fill several pages).
    for (const u of unconfirmed.splice(0)) await post(u, false);
    for (let round = 0; round < 3; round++) for (const a of agents) await readInbox(a);
    for (const a of agents) for (let round = 0; round < 20 && a.pending.size > 0; round++) await readInbox(a);
    await worker.stop().catch(() => undefined);
    // The state directory holds no plaintext and no private key, in raw bytes, hex or base64.
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const p = join(dir, name);
        if (statSync(p).isDirectory()) walk(p);
        else files.push(p);
      }
    };
    walk(persistTo);
    const needles: [string, Buffer][] = [];
    for (const m of markers) needles.push(['plaintext', Buffer.from(m)]);
    for (const s of secrets.slice(0, 400)) {
      needles.push(['private key (hex)', Buffer.from(toHex(s))]);
      needles.push(['private key (base64url)', Buffer.from(toBase64Url(s).slice(0, 40))]);
      needles.push(['private key (raw)', Buffer.from(s)]);
    }
    let scanned = 0;
    for (const f of files) {
      const data = readFileSync(f);
      scanned += data.length;
      for (const [what, needle] of needles) if (data.includes(needle)) fail('storage-leak', `${what} found in ${f}`);
    }
    counts['state files scanned (bytes)'] = scanned;
    counts['plaintexts searched'] = markers.length;
    // Requests about unregistered DIDs left no tables: only registered agents' objects hold any.
    // (The local runtime keeps a file per object touched, with its own name table only.)
    const schema = schemaFiles(files);
    objects = { touched: schema.objects, withTables: schema.withTables, registered: registeredDids.size };
    if (schema.withTables < registeredDids.size || schema.withTables > registeredDids.size + registrationsUnknown) {
      fail('stranger-state', `${schema.withTables} agent objects hold tables, but ${registeredDids.size} agents registered (${registrationsUnknown} more unknown); ${abuse?.ghosts.size ?? 0} unregistered DIDs were asked about`);
    }
  } finally {
    abuse?.stop();
    await worker.stop().catch(() => undefined);
    rmSync(persistTo, { recursive: true, force: true });
    dispose();
  }
  answerMs.sort((x, y) => x - y);
  const at = (q: number) => Math.round(answerMs[Math.min(answerMs.length - 1, Math.floor(q * answerMs.length))] ?? 0);
  return {
    seed: options.seed,
    requests,
    restarts,
    counts,
    statuses,
    failures,
    slowestMs: Math.round(slowest),
    latency: { p50: at(0.5), p99: at(0.99) },
    frames,
    upgrades,
    victims: victimCount,
    attackers: abuse?.stats.attackers ?? 0,
    ghosts: abuse?.stats.ghosts ?? 0,
    denials,
    worstConnectMs: abuse?.stats.worstConnectMs ?? 0,
    worstProbeMs: abuse?.stats.worstProbeMs ?? 0,
    objects,
  };
}

/**
 * scripts/local-worker.mjs, from the tree or from a copy of it (the Worker's sources, the SDK it
 * imports, its config and the launcher, with node_modules linked).
 */
async function launcher(snapshot: boolean): Promise<{ startLocalWorker: (o: LocalWorkerOptions) => Promise<LocalWorker>; dispose: () => void }> {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  if (!snapshot) {
    const mod = (await import('../scripts/local-worker.mjs')) as { startLocalWorker: (o: LocalWorkerOptions) => Promise<LocalWorker> };
    return { startLocalWorker: mod.startLocalWorker, dispose: () => undefined };
  }
  const copy = mkdtempSync(join(tmpdir(), 'agentmesh-fuzz-tree-'));
  for (const part of ['src', 'worker', 'scripts', 'wrangler.toml', 'package.json', 'tsconfig.json']) {
    cpSync(join(root, part), join(copy, part), { recursive: true, filter: (from) => !from.includes(`${join('worker', 'node_modules')}`) });
  }
  symlinkSync(join(root, 'node_modules'), join(copy, 'node_modules'), 'dir');
  const mod = (await import(join(copy, 'scripts', 'local-worker.mjs'))) as { startLocalWorker: (o: LocalWorkerOptions) => Promise<LocalWorker> };
  return { startLocalWorker: mod.startLocalWorker, dispose: () => rmSync(copy, { recursive: true, force: true }) };
}
