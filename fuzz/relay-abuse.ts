/// <reference types="node" />
/**
 * The relay's availability under abuse (issue 14 classes 1, 5 and 6), for the Worker part of
 * `npm run fuzz` (fuzz/worker.ts), which mixes these attacks into its traffic:
 *
 * - anonymous clients hold idle, unauthenticated WebSockets against the victims' relay endpoints,
 *   from several addresses, and reopen them as the relay closes them (in the background, all run);
 * - signed upgrade URLs are replayed and forged (a copy of the victim's, an attacker's signature on
 *   the victim's endpoint, the victim's signature over another path, stale and random ones), and
 *   the victim's `connect` frame is replayed on an unsigned socket;
 * - anonymous and signed GETs and POSTs go to random DIDs nobody registered;
 * - fresh DIDs (registration is free) flood the victims' inboxes with many small and some large
 *   frames, filling the strangers' pool and its byte cap;
 * - an attacker floods its own relay socket with heartbeats, and an unsigned socket sends them.
 *
 * Checked, for every victim (a registered agent with established peers: agents it wrote to): it
 * connects on its first try whatever is open against it, within a bound, and its socket is
 * served (an established peer's urgent frame is pushed to it at once) and never displaced; no
 * forged or replayed upgrade is ever accepted. fuzz/worker.ts checks that an established peer's
 * frame is never refused by a limit strangers can fill, and that requests about unregistered DIDs
 * leave no tables in the state directory (`schemaFiles`).
 */
import { readFileSync } from 'node:fs';
import { WebSocket } from 'undici';
import { toBase64Url } from '../src/encoding.js';
import { AgentIdentity } from '../src/identity/agent-identity.js';
import { AUTH_SCHEME, bodyDigest, canonicalRequest, RequestSigner, relayPath } from '../src/net/signing.js';
import { Rng } from './rng.js';

type Frame = Record<string, unknown> & { type?: string; id?: string };
type Answer = { status: number; body: unknown; ms: number } | null;

/** What the Worker part lends the abuse: its request function and bookkeeping. */
export interface AbuseHost {
  rng: Rng;
  /** The Worker's base URL (it changes on a restart). */
  url(): string;
  restarting(): boolean;
  call(method: string, path: string, init: { headers?: Record<string, string>; body?: string | Uint8Array; kind: string }): Promise<Answer>;
  bump(key: string): void;
  fail(kind: string, message: string): void;
  /** A victim was denied service beyond the documented limits. */
  deny(message: string): void;
  /** A DID was registered (its object now holds tables), or maybe (no answer: `known` false). */
  registered(did: string, known: boolean): void;
  /** WebSocket frames sent, and upgrades opened. */
  counted(what: 'frame' | 'upgrade'): void;
}

/** A victim: a registered agent, and the established peers (agents it wrote to) it expects frames from. */
export interface Victim {
  identity: AgentIdentity;
  did: string;
  signer: RequestSigner;
  /** Its own network address (`cf-connecting-ip`). */
  address: string;
  /** Established peers, and how to post a frame as one of them. */
  peers: { did: string; signer: RequestSigner }[];
}

export interface AbuseStats {
  connects: number;
  worstConnectMs: number;
  worstProbeMs: number;
  attackers: number;
  ghosts: number;
}

/** A WebSocket to the local Worker, recording what it receives. */
class Sock {
  readonly frames: Frame[] = [];
  closeCode: number | null = null;
  opened = false;
  failed = false;
  readonly #ws: WebSocket;
  readonly #waiters = new Set<() => void>();

  constructor(url: string, headers: Record<string, string>) {
    this.#ws = new WebSocket(url, { headers });
    this.#ws.addEventListener('open', () => {
      this.opened = true;
      this.#wake();
    });
    this.#ws.addEventListener('message', (e) => {
      try {
        this.frames.push(JSON.parse(String(e.data)) as Frame);
      } catch {
        this.frames.push({ type: '(not json)' });
      }
      this.#wake();
    });
    this.#ws.addEventListener('error', () => {
      this.failed = true;
      this.#wake();
    });
    this.#ws.addEventListener('close', (e) => {
      this.closeCode = e.code;
      this.#wake();
    });
  }

  #wake() {
    for (const w of [...this.#waiters]) w();
  }

  /** Resolves when `ready()` holds, or false after `ms`. */
  until(ready: () => boolean, ms: number): Promise<boolean> {
    if (ready()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const check = () => {
        if (!ready()) return;
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        resolve(ready());
      }, ms);
      this.#waiters.add(check);
    });
  }

  /** The first frame received that matches, waiting up to `ms` (null: none, or the socket closed first). */
  async next(match: (f: Frame) => boolean, ms: number): Promise<Frame | null> {
    await this.until(() => this.frames.some(match) || this.closeCode !== null || this.failed, ms);
    return this.frames.find(match) ?? null;
  }

  get open(): boolean {
    return this.opened && this.closeCode === null && !this.failed;
  }

  send(frame: unknown): boolean {
    try {
      this.#ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
      return true;
    } catch {
      return false;
    }
  }

  close(): void {
    try {
      this.#ws.close(1000, 'done');
    } catch {
      // Not open yet, or gone.
    }
  }
}

const frame = (type: string, from: string, to: string, fields: Record<string, unknown> = {}) => ({ v: 1, type, from, to, id: crypto.randomUUID(), ts: new Date().toISOString(), ...fields });

export class RelayAbuse {
  readonly stats: AbuseStats = { connects: 0, worstConnectMs: 0, worstProbeMs: 0, attackers: 0, ghosts: 0 };
  /** Ids of the probe frames peers sent (the Worker part's inbox reader ignores them). */
  readonly probes = new Set<string>();
  /** DIDs nobody registered that requests were sent about. */
  readonly ghosts = new Set<string>();
  readonly #h: AbuseHost;
  readonly #victims: Victim[];
  /** The background's own stream, so that timing does not move the main stream. */
  readonly #bg: Rng;
  readonly #idle = new Map<string, Sock[]>();
  #holder: ReturnType<typeof setInterval> | null = null;
  /** Fresh attacker DIDs, with the frames each has sent (each sends at most a stranger's share). */
  readonly #attackers: { identity: AgentIdentity; signer: RequestSigner; sent: number }[] = [];
  /** Accepted upgrade URLs and connect frames of the victims, to replay. */
  readonly #captured: { victim: Victim; url: string; connect: Frame }[] = [];
  readonly #boundMs: number;

  constructor(host: AbuseHost, victims: Victim[], options: { seed: number; boundMs?: number; idleSockets?: number; holdEveryMs?: number }) {
    this.#h = host;
    this.#victims = victims;
    this.#bg = new Rng(options.seed, 0x1d);
    this.#boundMs = options.boundMs ?? 5000;
    const target = options.idleSockets ?? 10;
    if (target > 0) this.#holder = setInterval(() => this.#hold(target), options.holdEveryMs ?? 1500);
  }

  #wsUrl(path: string): string {
    return this.#h.url().replace(/^http/, 'ws') + path;
  }

  #open(path: string, address: string): Sock {
    this.#h.counted('upgrade');
    return new Sock(this.#wsUrl(path), { 'cf-connecting-ip': address });
  }

  // ── idle unauthenticated sockets, held in the background ─────────────────────────────────────

  #hold(target: number): void {
    if (this.#h.restarting()) return;
    for (const v of this.#victims) {
      const held = (this.#idle.get(v.did) ?? []).filter((s) => s.closeCode === null && !s.failed);
      // A few new ones per round, from five addresses: more than the waiting budget (8 per agent,
      // 2 per address), so the relay keeps closing the oldest and the attacker keeps reopening.
      for (let i = 0; held.length < target && i < 4; i++) {
        held.push(this.#open(relayPath(v.did), `198.51.100.${this.#bg.int(5)}`));
        this.#h.bump('idle unauthenticated socket opened');
      }
      this.#idle.set(v.did, held);
    }
  }

  // ── a victim's connection, under siege ───────────────────────────────────────────────────────

  /**
   * The victim connects (signed upgrade, plus the `connect` frame its client sends for older
   * relays) while idle sockets are open against it; then forged and replayed upgrades, a replayed
   * `connect`, heartbeat floods and a peer's urgent frame; its socket must stay and be served.
   */
  async siege(v: Victim): Promise<void> {
    const rng = this.#h.rng;
    // A few more idle sockets right now, from fresh addresses too.
    const extra: Sock[] = [];
    for (let i = 0; i < rng.int(6); i++) extra.push(this.#open(relayPath(v.did), `203.0.113.${rng.int(200)}`));
    const auth = await v.signer.authorization('GET', relayPath(v.did));
    const url = `${relayPath(v.did)}?auth=${encodeURIComponent(auth)}`;
    const t0 = performance.now();
    const own = this.#open(url, v.address);
    const connected = await own.next((f) => f.type === 'connected', this.#boundMs);
    const ms = performance.now() - t0;
    this.stats.connects += 1;
    this.stats.worstConnectMs = Math.max(this.stats.worstConnectMs, Math.round(ms));
    this.#h.bump('victim connects');
    try {
      if (!connected) {
        if (!this.#h.restarting()) this.#h.deny(`victim ${v.did.slice(-8)} did not connect on its first try (${Math.round(ms)} ms, close ${own.closeCode}, frames ${JSON.stringify(own.frames).slice(0, 200)})`);
        return;
      }
      const connect = frame('connect', v.did, 'relay', { auth: await v.signer.connectAuth(), supported_versions: [1] });
      own.send(connect);
      this.#h.counted('frame');
      this.#captured.push({ victim: v, url, connect });
      if (this.#captured.length > 50) this.#captured.shift();

      for (let i = 0, n = 2 + rng.int(5); i < n; i++) await this.#forgedUpgrade(v);
      if (rng.chance(0.5)) await this.#heartbeatFlood(v);
      await this.#probe(v, own);
      if (own.closeCode !== null && !this.#h.restarting()) this.#h.deny(`victim ${v.did.slice(-8)}'s socket was closed under attack (${own.closeCode})`);
    } finally {
      own.close();
      for (const s of extra) s.close();
    }
  }

  /** One forged or replayed upgrade on the victim's endpoint: never `connected`. */
  async #forgedUpgrade(v: Victim): Promise<void> {
    const rng = this.#h.rng;
    const path = relayPath(v.did);
    const captured = this.#captured.filter((c) => c.victim === v);
    const attacker = await this.#attacker();
    const kind = rng.weighted<string>([[3, 'replayed url'], [2, 'replayed connect'], [2, "attacker's signature"], [1, 'other path'], [1, 'stale'], [1, 'random'], [1, 'heartbeat unauthenticated']]);
    let query = '';
    switch (kind) {
      case 'replayed url':
      case 'replayed connect':
        if (captured.length === 0) return;
        query = kind === 'replayed url' ? rng.pick(captured).url.slice(path.length) : '';
        break;
      case "attacker's signature":
        query = `?auth=${encodeURIComponent(await attacker.signer.authorization('GET', path))}`;
        break;
      case 'other path':
        query = `?auth=${encodeURIComponent(await v.signer.authorization('GET', `/v1/agents/${v.did}/prekeys/count`))}`;
        break;
      case 'stale': {
        const ts = new Date(Date.now() - rng.pick([6, 60, 600]) * 60_000).toISOString();
        const sig = await v.identity.sign(canonicalRequest(ts, 'GET', path, bodyDigest()));
        query = `?auth=${encodeURIComponent(`${AUTH_SCHEME} ${v.did} ${ts} ${toBase64Url(sig)}`)}`;
        break;
      }
      case 'random':
        query = `?auth=${encodeURIComponent(`${AUTH_SCHEME} ${v.did} ${new Date().toISOString()} ${toBase64Url(rng.bytes(64))}`)}`;
        break;
    }
    this.#h.bump(`forged upgrade: ${kind}`);
    const s = this.#open(path + query, `192.0.2.${rng.int(250)}`);
    try {
      if (kind === 'replayed connect') {
        await s.until(() => s.opened || s.failed || s.closeCode !== null, this.#boundMs);
        s.send(rng.pick(captured).connect);
        this.#h.counted('frame');
      } else if (kind === 'heartbeat unauthenticated') {
        await s.until(() => s.opened || s.failed || s.closeCode !== null, this.#boundMs);
        for (let i = 0; i < 5; i++) s.send(frame('heartbeat', v.did, 'relay'));
        this.#h.counted('frame');
      }
      // Refused upgrades carry an error frame and are closed at once; give the relay time to answer.
      const outcome = await s.next((f) => f.type === 'connected' || f.type === 'error', this.#boundMs);
      if (outcome?.type === 'connected') this.#h.fail('forged-upgrade-accepted', `${kind} on ${v.did.slice(-8)}'s endpoint was accepted`);
      else if (!outcome && !s.failed && s.closeCode === null && !this.#h.restarting() && kind !== 'heartbeat unauthenticated') {
        this.#h.fail('slow', `${kind}: no answer within ${this.#boundMs} ms`);
      }
      if (outcome?.type === 'error') this.#h.bump(`forged upgrade refused: ${String(outcome.code)}`);
    } finally {
      s.close();
    }
  }

  /** An attacker's own authenticated socket sends a burst of heartbeats: each answered, nothing else. */
  async #heartbeatFlood(v: Victim): Promise<void> {
    const rng = this.#h.rng;
    const attacker = await this.#attacker();
    const path = relayPath(attacker.identity.did);
    const s = this.#open(`${path}?auth=${encodeURIComponent(await attacker.signer.authorization('GET', path))}`, `192.0.2.${rng.int(250)}`);
    try {
      if (!(await s.next((f) => f.type === 'connected', this.#boundMs))) {
        if (!this.#h.restarting()) this.#h.fail('attacker-connect', `an attacker could not connect to its own endpoint (close ${s.closeCode})`);
        return;
      }
      const n = 50 + rng.int(250);
      for (let i = 0; i < n; i++) {
        s.send(frame('heartbeat', attacker.identity.did, 'relay'));
        this.#h.counted('frame');
      }
      this.#h.bump('heartbeat flood');
      const beats = () => s.frames.filter((f) => f.type === 'heartbeat').length;
      const t0 = performance.now();
      if (!(await s.until(() => beats() >= n, 10_000)) && !this.#h.restarting()) this.#h.fail('heartbeat', `${beats()} of ${n} heartbeats answered`);
      const errors = s.frames.filter((f) => f.type === 'error');
      if (errors.length > 0) this.#h.fail('heartbeat', `heartbeats refused: ${JSON.stringify(errors[0])}`);
      if (performance.now() - t0 > this.#boundMs) this.#h.fail('slow', `${n} heartbeats took ${Math.round(performance.now() - t0)} ms`);
      void v;
    } finally {
      s.close();
    }
  }

  /** An established peer's urgent frame (pushed on arrival) reaches the victim's socket at once; the victim acknowledges it. */
  async #probe(v: Victim, own: Sock): Promise<void> {
    if (v.peers.length === 0) return;
    const peer = this.#h.rng.pick(v.peers);
    const f = frame('trust_probe', peer.did, v.did, { reply_to: crypto.randomUUID(), fuzz: 'probe' });
    this.probes.add(f.id);
    const body = JSON.stringify(f);
    const t0 = performance.now();
    const r = await this.#h.call('POST', `/v1/agents/${v.did}/inbox`, { headers: { authorization: await peer.signer.authorization('POST', `/v1/agents/${v.did}/inbox`, body), 'content-type': 'application/json' }, body, kind: 'peer probe' });
    if (!r) return;
    if (r.status !== 202) {
      this.#h.deny(`an established peer's probe to ${v.did.slice(-8)} was refused: ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
      return;
    }
    if ((r.body as { status?: string }).status !== 'delivered') this.#h.deny(`an established peer's probe to ${v.did.slice(-8)} was ${(r.body as { status?: string }).status}, not pushed to its open socket`);
    const got = await own.next((x) => x.id === f.id, this.#boundMs);
    const ms = performance.now() - t0;
    this.stats.worstProbeMs = Math.max(this.stats.worstProbeMs, Math.round(ms));
    if (!got) {
      if (!this.#h.restarting()) this.#h.deny(`an established peer's probe never reached ${v.did.slice(-8)}'s socket`);
      return;
    }
    this.#h.bump('peer probes delivered');
    own.send(frame('ack', v.did, peer.did, { ack_id: f.id }));
    this.#h.counted('frame');
  }

  // ── fresh DIDs ───────────────────────────────────────────────────────────────────────────────

  /** A registered attacker DID with room left in a stranger's share; a new one when needed. */
  async #attacker(fresh = false): Promise<{ identity: AgentIdentity; signer: RequestSigner; sent: number }> {
    const rng = this.#h.rng;
    const usable = this.#attackers.filter((a) => a.sent < 60);
    if (!fresh && usable.length > 0 && (usable.length >= 30 || rng.chance(0.7))) return rng.pick(usable);
    const identity = await AgentIdentity.fromSeed(rng.bytes(32));
    const signer = new RequestSigner(identity);
    const body = JSON.stringify({ did: identity.did, public_key: toBase64Url(identity.publicKey), capabilities: ['fuzz-attacker'], metadata: {} });
    const r = await this.#h.call('POST', '/v1/agents', { headers: { authorization: await signer.authorization('POST', '/v1/agents', body), 'content-type': 'application/json' }, body, kind: 'attacker registers' });
    const a = { identity, signer, sent: 0 };
    if (!r) this.#h.registered(identity.did, false);
    if (r && r.status !== 201) this.#h.fail('status', `a fresh DID's registration: expected 201, got ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
    if (r?.status !== 201) return a; // used once, and not kept
    this.#h.registered(identity.did, true);
    this.#attackers.push(a);
    this.stats.attackers += 1;
    return a;
  }

  /**
   * Fresh DIDs flood a victim's inbox: many small frames and some large ones, a few at a time,
   * until the strangers' pool (250 frames, 8 MiB) or the senders' shares (50, 1 MiB) refuse them.
   * Returns the attackers used, for an owner's purge.
   */
  async flood(v: Victim): Promise<string[]> {
    const rng = this.#h.rng;
    const n = 40 + rng.int(220);
    const used = new Set<string>();
    for (let i = 0; i < n; ) {
      const batch = Math.min(n - i, 1 + rng.int(8));
      const posts: Promise<void>[] = [];
      for (let j = 0; j < batch; j++, i++) {
        const a = await this.#attacker(rng.chance(0.1));
        a.sent += 1;
        used.add(a.identity.did);
        const large = rng.chance(0.15);
        const size = large ? 100_000 + rng.int(150_000) : 200 + rng.int(2000);
        const padding = toBase64Url(rng.bytes(Math.floor(size * 0.75)));
        const type = rng.pick(['message', 'message', 'knock', 'trust_challenge']);
        const fields =
          type === 'knock'
            ? { intent: { action: 'fuzz', description: padding }, signature: toBase64Url(rng.bytes(64)) }
            : type === 'message'
              ? { header: { dh: toBase64Url(rng.bytes(32)), pn: 0, n: rng.int(100) }, ciphertext: padding }
              : { challenge: { nonce: padding } };
        const f = frame(type, a.identity.did, v.did, fields);
        const body = JSON.stringify(f);
        const path = `/v1/agents/${v.did}/inbox`;
        posts.push(
          (async () => {
            const r = await this.#h.call('POST', path, { headers: { authorization: await a.signer.authorization('POST', path, body), 'content-type': 'application/json' }, body, kind: large ? 'stranger flood (large)' : 'stranger flood' });
            if (!r) return;
            if (r.status === 202) this.#h.bump('stranger frames stored');
            else if (r.status === 429) {
              const m = String((r.body as { message?: string }).message);
              this.#h.bump(`stranger frames refused: ${m.includes('not written to') ? 'strangers pool' : m.includes('your frames') ? "a stranger's share" : 'recipient full'}`);
            } else this.#h.fail('status', `stranger flood: expected 202/429, got ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
          })(),
        );
      }
      await Promise.all(posts);
    }
    return [...used];
  }

  /** The owner's way out: purge the named senders' frames. */
  async purge(v: Victim, senders: string[]): Promise<void> {
    const body = JSON.stringify({ senders: senders.slice(0, 100) });
    const path = `/v1/agents/${v.did}/inbox/purge`;
    const r = await this.#h.call('POST', path, { headers: { authorization: await v.signer.authorization('POST', path, body), 'content-type': 'application/json' }, body, kind: 'owner purges strangers' });
    if (r && r.status !== 200) this.#h.deny(`${v.did.slice(-8)} could not purge strangers: ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
  }

  /** Requests about DIDs nobody registered, anonymous and signed: refused, and (checked at the end) no state. */
  async spray(): Promise<void> {
    const rng = this.#h.rng;
    const ghost = await AgentIdentity.fromSeed(rng.bytes(32));
    const did = ghost.did;
    this.ghosts.add(did);
    this.stats.ghosts += 1;
    const anon = { 'cf-connecting-ip': `100.64.${rng.int(256)}.${rng.int(256)}` };
    const attacker = rng.chance(0.5) ? await this.#attacker() : null;
    for (let i = 0, n = 1 + rng.int(4); i < n; i++) {
      const kind = rng.pick(['get agent', 'get bundle', 'get presence', 'get count', 'post frame', 'post frame signed', 'vote', 'register with another key', 'signed by the ghost', 'ack', 'purge', 'delete', 'fetch inbox', 'upgrade'] as const);
      let r: Answer = null;
      const frameBody = () => JSON.stringify(frame('message', attacker?.identity.did ?? did, did, { header: { dh: toBase64Url(rng.bytes(32)), pn: 0, n: 0 }, ciphertext: toBase64Url(rng.bytes(60)) }));
      const signedBy = async (signer: RequestSigner, method: string, path: string, body?: string) =>
        this.#h.call(method, path, { headers: { ...anon, authorization: await signer.authorization(method, path, body), ...(body ? { 'content-type': 'application/json' } : {}) }, body, kind: `unregistered DID: ${kind}` });
      const plain = (method: string, path: string, body?: string) => this.#h.call(method, path, { headers: { ...anon, ...(body ? { 'content-type': 'application/json' } : {}) }, body, kind: `unregistered DID: ${kind}` });
      switch (kind) {
        case 'get agent':
          r = await plain('GET', `/v1/agents/${did}`);
          break;
        case 'get bundle':
          r = await plain('GET', `/v1/agents/${did}/prekeys`);
          break;
        case 'get presence':
          r = await plain('GET', `/v1/agents/${did}/presence`);
          break;
        case 'get count':
          r = await plain('GET', `/v1/agents/${did}/prekeys/count`);
          break;
        case 'post frame':
          r = await plain('POST', `/v1/agents/${did}/inbox`, frameBody());
          break;
        case 'post frame signed':
        case 'vote':
          if (!attacker) continue;
          r = kind === 'vote' ? await signedBy(attacker.signer, 'POST', `/v1/agents/${did}/reputation`, '{"score":1}') : await signedBy(attacker.signer, 'POST', `/v1/agents/${did}/inbox`, frameBody());
          break;
        case 'register with another key':
          if (!attacker) continue;
          r = await signedBy(attacker.signer, 'POST', '/v1/agents', JSON.stringify({ did, public_key: toBase64Url(ghost.publicKey) }));
          break;
        case 'signed by the ghost': {
          const target = rng.pick(this.#victims).did;
          r = await signedBy(new RequestSigner(ghost), 'GET', rng.pick([`/v1/agents/${target}/prekeys`, `/v1/agents/${did}/inbox`, `/v1/agents/${did}/prekeys/count`]));
          break;
        }
        case 'ack':
          r = await signedBy(new RequestSigner(ghost), 'POST', `/v1/agents/${did}/inbox/ack`, '{"acks":[]}');
          break;
        case 'purge':
          r = await signedBy(new RequestSigner(ghost), 'POST', `/v1/agents/${did}/inbox/purge`, '{"strangers":true}');
          break;
        case 'delete':
          r = await signedBy(new RequestSigner(ghost), 'DELETE', `/v1/agents/${did}`);
          break;
        case 'fetch inbox':
          r = await plain('GET', `/v1/agents/${did}/inbox`);
          break;
        case 'upgrade': {
          this.#h.bump(`request: unregistered DID: ${kind}`);
          const s = this.#open(`${relayPath(did)}${rng.chance(0.5) ? `?auth=${encodeURIComponent(await new RequestSigner(ghost).authorization('GET', relayPath(did)))}` : ''}`, anon['cf-connecting-ip']);
          await s.until(() => s.failed || s.closeCode !== null || s.frames.length > 0, this.#boundMs);
          if (s.frames.some((f) => f.type === 'connected')) this.#h.fail('ghost-accepted', `an upgrade for unregistered ${did} was accepted`);
          if (s.opened && s.closeCode === null && !this.#h.restarting()) this.#h.fail('ghost-accepted', `an upgrade for unregistered ${did} was kept open`);
          s.close();
          continue;
        }
      }
      if (r && r.status < 400) this.#h.fail('ghost-accepted', `${kind} for unregistered ${did} answered ${r.status}`);
      if (r && ![400, 401, 403, 404, 405, 426, 429].includes(r.status)) this.#h.fail('status', `${kind} for unregistered DID: ${r.status}`);
    }
  }

  /** Stops the background and closes every socket it holds. */
  stop(): void {
    if (this.#holder) clearInterval(this.#holder);
    this.#holder = null;
    for (const socks of this.#idle.values()) for (const s of socks) s.close();
    this.#idle.clear();
  }
}

/**
 * The agents' object databases in a state directory that hold tables of the Worker's (the
 * runtime's own `__miniflare_*` and `_cf_*` tables aside): schema text is stored as is, in the
 * database or its write-ahead log.
 */
export function schemaFiles(files: string[]): { objects: number; withTables: number } {
  let objects = 0;
  let withTables = 0;
  for (const f of files) {
    if (!/AgentObject[\\/][0-9a-f]{64}\.sqlite$/.test(f)) continue;
    objects += 1;
    let text = readFileSync(f).toString('latin1');
    try {
      text += readFileSync(`${f}-wal`).toString('latin1');
    } catch {
      // No log.
    }
    const names = [...text.matchAll(/CREATE TABLE "?([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!);
    if (names.some((n) => !n.startsWith('__miniflare') && !n.startsWith('_cf_') && n !== 'sqlite_sequence')) withTables += 1;
  }
  return { objects, withTables };
}
