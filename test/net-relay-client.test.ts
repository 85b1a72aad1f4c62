import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createCryptoProvider } from '../src/crypto/index.js';
import { toBase64Url } from '../src/encoding.js';
import { AgentIdentity } from '../src/identity/agent-identity.js';
import { InvalidFrameError, RelayClosedError, RelayError } from '../src/net/errors.js';
import { createFrame, type Frame } from '../src/net/frames.js';
import { RelayClient, type RelayClientOptions, type RelayEvent, type WebSocketLike } from '../src/net/relay-client.js';
import { CONNECT_METHOD, bodyDigest, parseAuthorization, relayPath, verifySignature } from '../src/net/signing.js';

// Synchronous primitives, so fake timers and promise flushing see everything.
const crypto = createCryptoProvider('noble');
const [alice, bob] = await Promise.all([AgentIdentity.generate({ crypto }), AgentIdentity.generate({ crypto })]);

type Listener = (event: never) => void;

/** One client socket, driven by the fake relay below. */
class FakeSocket implements WebSocketLike {
  readyState = 0;
  readonly sent: Frame[] = [];
  readonly #listeners: Record<string, Listener[]> = {};
  constructor(readonly url: string, readonly relay: FakeRelay) {}
  addEventListener(type: string, listener: Listener): void {
    (this.#listeners[type] ??= []).push(listener);
  }
  send(data: string): void {
    if (this.readyState !== 1) throw new Error('not open');
    const frame = JSON.parse(data) as Frame;
    this.sent.push(frame);
    this.relay.receive(this, frame);
  }
  close(code = 1000): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    queueMicrotask(() => this.#emit('close', { code }));
  }
  // Relay side.
  open(): void {
    this.readyState = 1;
    this.#emit('open', {});
  }
  deliver(frame: Record<string, unknown>): void {
    this.#emit('message', { data: JSON.stringify(frame) });
  }
  drop(code: number): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.#emit('close', { code });
  }
  #emit(type: string, event: unknown): void {
    for (const l of this.#listeners[type] ?? []) (l as (e: unknown) => void)(event);
  }
}

class FakeRelay {
  readonly sockets: FakeSocket[] = [];
  readonly openedAt: number[] = [];
  readonly received: Frame[] = [];
  readonly acks: string[] = [];
  readonly heartbeats: number[] = [];
  accepting = true;
  autoAck = true;
  answerHeartbeats = true;
  refuse: { code: string; close: number } | null = null;

  factory = (url: string): WebSocketLike => {
    const socket = new FakeSocket(url, this);
    this.sockets.push(socket);
    this.openedAt.push(Date.now());
    // Like a real socket: events come from a later task, never before the constructor returns.
    setTimeout(() => (this.accepting ? socket.open() : socket.drop(1006)), 0);
    return socket;
  };

  get last(): FakeSocket {
    return this.sockets.at(-1)!;
  }

  receive(socket: FakeSocket, frame: Frame): void {
    const reply = (type: string, body: Record<string, unknown> = {}) => socket.deliver(createFrame(type, 'relay', frame.from, body));
    switch (frame.type) {
      case 'connect':
        if (this.refuse) {
          reply('error', { code: this.refuse.code, status: 401, message: 'no', ref_id: frame.id });
          socket.drop(this.refuse.close);
        } else reply('connected', { version: 1, pending: 0 });
        return;
      case 'heartbeat':
        this.heartbeats.push(Date.now());
        if (this.answerHeartbeats) reply('heartbeat');
        return;
      case 'ack':
        this.acks.push(frame.ack_id as string);
        return;
      default:
        this.received.push(frame);
        if (this.autoAck) reply('ack', { ack_id: frame.id, status: 'stored' });
    }
  }

  /** A frame from Bob to Alice, as the relay would push it. */
  push(socket: FakeSocket, id?: string): Frame {
    const frame = createFrame('message', bob.did, alice.did, {
      header: { dh: toBase64Url(new Uint8Array(32).fill(2)), pn: 0, n: 0 },
      ciphertext: toBase64Url(new Uint8Array(32)),
    }, id ? { id } : {});
    socket.deliver(frame);
    return frame;
  }
}

const flush = () => vi.advanceTimersByTimeAsync(0);
const message = (n = 0) => ({
  type: 'message',
  to: bob.did,
  header: { dh: toBase64Url(new Uint8Array(32).fill(1)), pn: 0, n },
  ciphertext: toBase64Url(new Uint8Array(32)),
});

let relay: FakeRelay;
let client: RelayClient;
const make = (options: Partial<RelayClientOptions> = {}) => {
  client = new RelayClient({ url: 'https://relay.example/base/', identity: alice, webSocket: relay.factory, crypto, random: () => 0, ...options });
  return client;
};

beforeEach(() => {
  vi.useFakeTimers();
  relay = new FakeRelay();
});

afterEach(async () => {
  await client?.close();
  vi.useRealTimers();
});

describe('RelayClient', () => {
  it('opens wss://…/v1/agents/{did}/relay with a signed upgrade, and also sends a signed connect for older relays', async () => {
    await Promise.all([make().connect(), flush()]);
    expect(client.state).toBe('open');
    const url = new URL(relay.last.url);
    expect(url.origin + url.pathname).toBe(`wss://relay.example/base${relayPath(alice.did)}`);
    // The upgrade's signature: the request signature over GET and the relay path (browsers cannot set headers).
    const upgrade = parseAuthorization(url.searchParams.get('auth'));
    expect(upgrade.did).toBe(alice.did);
    const upgradeForm = await verifySignature({ auth: upgrade, publicKey: alice.publicKey, method: 'GET', path: relayPath(alice.did), digestHex: bodyDigest(), crypto });
    expect(upgradeForm).toBe('request');
    const connect = relay.last.sent[0]!;
    expect(connect).toMatchObject({ v: 1, type: 'connect', from: alice.did, to: 'relay', supported_versions: [1] });
    const auth = connect.auth as { timestamp: string; signature: string };
    const form = await verifySignature({
      auth: { timestamp: auth.timestamp, signature: Uint8Array.from(Buffer.from(auth.signature, 'base64url')) },
      publicKey: alice.publicKey,
      method: CONNECT_METHOD,
      path: relayPath(alice.did),
      digestHex: bodyDigest(),
      crypto,
    });
    expect(form).toBe('request');
  });

  it('keeps one frame on the wire at a time, in send order', async () => {
    relay.autoAck = false;
    await Promise.all([make().connect(), flush()]);
    const sends = [0, 1, 2].map((n) => client.send(message(n)));
    await flush();
    expect(relay.received.map((f) => (f.header as { n: number }).n)).toEqual([0]);
    const ack = (f: Frame) => relay.last.deliver(createFrame('ack', 'relay', alice.did, { ack_id: f.id, status: 'stored' }));
    ack(relay.received[0]!);
    await flush();
    expect(relay.received).toHaveLength(2);
    ack(relay.received[1]!);
    await flush();
    ack(relay.received[2]!);
    expect((await Promise.all(sends)).map((r) => r.status)).toEqual(['stored', 'stored', 'stored']);
    expect(relay.received.map((f) => (f.header as { n: number }).n)).toEqual([0, 1, 2]);
  });

  it('sends frames queued while offline after connecting, and re-sends an unconfirmed one after a reconnect', async () => {
    make();
    const first = client.send(message(0));
    relay.autoAck = false;
    await Promise.all([client.connect(), flush()]);
    expect(relay.received).toHaveLength(1);
    const id = relay.received[0]!.id;
    relay.last.drop(1006);
    relay.autoAck = true;
    await vi.advanceTimersByTimeAsync(1000);
    expect(client.state).toBe('open');
    expect(relay.received.map((f) => f.id)).toEqual([id, id]);
    expect(await first).toEqual({ id, status: 'stored' });
  });

  it('reconnects with exponential backoff and jitter, and resets it after a success', async () => {
    relay.accepting = false;
    make({ backoff: { initialDelayMs: 100, maxDelayMs: 1000, jitter: 0.5 }, random: () => 0.5, connectTimeoutMs: 0 });
    const connected = client.connect();
    await vi.advanceTimersByTimeAsync(75 + 150 + 300 + 600 + 750 + 750 + 10);
    // Each gap is the delay plus the moment the fake socket takes to fail.
    const gaps = relay.openedAt.slice(1).map((t, i) => t - relay.openedAt[i]!);
    const expected = [75, 150, 300, 600, 750, 750];
    expect(gaps.length).toBeGreaterThanOrEqual(expected.length);
    expected.forEach((d, i) => expect(Math.abs(gaps[i]! - d)).toBeLessThanOrEqual(1));
    relay.accepting = true;
    await vi.advanceTimersByTimeAsync(750);
    await connected;
    relay.last.drop(1006);
    const before = relay.sockets.length;
    await vi.advanceTimersByTimeAsync(75);
    expect(relay.sockets.length).toBe(before + 1);
  });

  it('sends heartbeats and reconnects when the relay goes silent', async () => {
    await Promise.all([make({ heartbeatIntervalMs: 1000, idleTimeoutMs: 2500 }).connect(), flush()]);
    await vi.advanceTimersByTimeAsync(3000);
    expect(relay.heartbeats).toHaveLength(3);
    relay.answerHeartbeats = false;
    const sockets = relay.sockets.length;
    await vi.advanceTimersByTimeAsync(4000);
    expect(relay.sockets.length).toBeGreaterThan(sockets);
    expect(relay.sockets[sockets - 1]!.readyState).toBe(3);
  });

  it('acknowledges a frame only after the handler resolves, and not when it throws', async () => {
    await Promise.all([make().connect(), flush()]);
    let release!: () => void;
    const handled: string[] = [];
    client.onFrame(async (frame) => {
      if ((frame.header as { n: number }).n === 0 && handled.length === 0) await new Promise<void>((r) => (release = r));
      handled.push(frame.id);
    });
    const f1 = relay.push(relay.last);
    await flush();
    expect(relay.acks).toEqual([]);
    release();
    await flush();
    expect(relay.acks).toEqual([f1.id]);
    // A redelivery of a handled frame is acknowledged without a second handler call.
    relay.push(relay.last, f1.id);
    await flush();
    expect(handled).toEqual([f1.id]);
    expect(relay.acks).toEqual([f1.id, f1.id]);

    const errors: unknown[] = [];
    client.onEvent((e: RelayEvent) => e.type === 'error' && errors.push(e.error));
    const off = client.onFrame(() => {
      throw new Error('cannot persist');
    });
    const f2 = relay.push(relay.last);
    await flush();
    expect(relay.acks).not.toContain(f2.id);
    expect(errors).toHaveLength(1);
    off();
  });

  it('hands one sender’s frames to the handler one at a time, in arrival order', async () => {
    await Promise.all([make().connect(), flush()]);
    const order: string[] = [];
    client.onFrame(async (frame) => {
      order.push(`start ${frame.id}`);
      await new Promise((r) => setTimeout(r, 10));
      order.push(`end ${frame.id}`);
    });
    const [x, y] = [relay.push(relay.last), relay.push(relay.last)];
    await vi.advanceTimersByTimeAsync(50);
    expect(order).toEqual([`start ${x.id}`, `end ${x.id}`, `start ${y.id}`, `end ${y.id}`]);
  });

  it('a sender whose frame never finishes delays only its own later frames, not another sender’s', async () => {
    await Promise.all([make().connect(), flush()]);
    const carol = await AgentIdentity.generate({ crypto });
    const handled: string[] = [];
    client.onFrame(async (frame) => {
      if (frame.from === carol.did && handled.length === 0) {
        handled.push('carol stuck');
        await new Promise(() => {}); // a handshake with a peer that never answers
      }
      handled.push(`${frame.from === carol.did ? 'carol' : 'bob'} ${(frame.header as { n: number }).n}`);
    });
    const from = (sender: AgentIdentity, n: number) =>
      relay.last.deliver(createFrame('message', sender.did, alice.did, { header: { dh: toBase64Url(new Uint8Array(32).fill(2)), pn: 0, n }, ciphertext: toBase64Url(new Uint8Array(32)) }));
    from(carol, 0);
    from(carol, 1);
    from(bob, 0);
    from(bob, 1);
    await vi.advanceTimersByTimeAsync(10);
    expect(handled).toEqual(['carol stuck', 'bob 0', 'bob 1']);
    expect(relay.acks).toHaveLength(2);
  });

  it('sends background frames only when no ordinary frame waits', async () => {
    relay.autoAck = false;
    await Promise.all([make().connect(), flush()]);
    const sends = [client.send(message(0), { background: true }), client.send(message(1), { background: true }), client.send(message(2))];
    await flush();
    const ack = (f: Frame) => relay.last.deliver(createFrame('ack', 'relay', alice.did, { ack_id: f.id, status: 'stored' }));
    for (let i = 0; i < 3; i++) {
      ack(relay.received[i]!);
      await flush();
    }
    await Promise.all(sends);
    // The first background frame was already on the wire; the ordinary one overtakes the second.
    expect(relay.received.map((f) => (f.header as { n: number }).n)).toEqual([0, 2, 1]);
  });

  it('hands frames marked unordered to the handler at once, past a handler that waits for them', async () => {
    await Promise.all([make({ unordered: (f) => f.type === 'trust_result' }).connect(), flush()]);
    let answered!: () => void;
    const answer = new Promise<void>((r) => (answered = r));
    const seen: string[] = [];
    client.onFrame(async (frame) => {
      seen.push(frame.type);
      if (frame.type === 'message') await answer; // e.g. a reply that needs a handshake first
      if (frame.type === 'trust_result') answered();
    });
    const m = relay.push(relay.last);
    await flush();
    expect(seen).toEqual(['message']);
    relay.last.deliver(createFrame('trust_result', bob.did, alice.did, { verified: true }));
    await flush();
    expect(seen).toEqual(['message', 'trust_result']);
    expect(relay.acks).toContain(m.id);
  });

  it('ignores frames for someone else and reports malformed ones', async () => {
    await Promise.all([make().connect(), flush()]);
    const got: unknown[] = [];
    const errors: unknown[] = [];
    client.onFrame((f) => void got.push(f));
    client.onEvent((e) => e.type === 'error' && errors.push(e.error));
    relay.last.deliver(createFrame('message', bob.did, bob.did, { header: { dh: toBase64Url(new Uint8Array(32)), pn: 0, n: 0 }, ciphertext: toBase64Url(new Uint8Array(32)) }));
    relay.last.deliver({ v: 1, type: 'message' });
    await flush();
    expect(got).toEqual([]);
    expect(errors).toHaveLength(1);
  });

  it('fails for good when the relay refuses authentication', async () => {
    relay.refuse = { code: 'bad_signature', close: 4401 };
    make();
    const pending = expect(client.send(message())).rejects.toBeInstanceOf(RelayError);
    const connecting = expect(client.connect()).rejects.toMatchObject({ code: 'bad_signature' });
    await flush();
    await connecting;
    await pending;
    expect(client.state).toBe('closed');
    await vi.advanceTimersByTimeAsync(60_000);
    expect(relay.sockets).toHaveLength(1);
  });

  it('rejects a refused frame with the relay error and carries on', async () => {
    relay.autoAck = false;
    await Promise.all([make().connect(), flush()]);
    const refused = client.send(message(0));
    const refusal = expect(refused).rejects.toMatchObject({ code: 'inbox_full' });
    const next = client.send(message(1));
    await flush();
    relay.last.deliver(createFrame('error', 'relay', alice.did, { code: 'inbox_full', status: 429, message: 'full', ref_id: relay.received[0]!.id }));
    await refusal;
    await flush();
    relay.last.deliver(createFrame('ack', 'relay', alice.did, { ack_id: relay.received[1]!.id, status: 'stored' }));
    expect(await next).toMatchObject({ status: 'stored' });
  });

  it('gives up connect() after connectTimeoutMs and times out unconfirmed sends', async () => {
    relay.accepting = false;
    make({ connectTimeoutMs: 2000 });
    const connecting = client.connect();
    const assertion = expect(connecting).rejects.toMatchObject({ code: 'connect_timeout' });
    await vi.advanceTimersByTimeAsync(2500);
    await assertion;
    expect(client.state).toBe('closed');

    relay = new FakeRelay();
    relay.autoAck = false;
    await Promise.all([make({ sendTimeoutMs: 1000 }).connect(), flush()]);
    const send = client.send(message());
    const timedOut = expect(send).rejects.toMatchObject({ code: 'send_timeout' });
    await vi.advanceTimersByTimeAsync(1500);
    await timedOut;
  });

  it('close() fails waiting sends and refuses new ones', async () => {
    make();
    const waiting = expect(client.send(message())).rejects.toBeInstanceOf(RelayClosedError);
    await client.close();
    await waiting;
    await expect(client.send(message())).rejects.toBeInstanceOf(RelayClosedError);
    await expect(client.connect()).rejects.toBeInstanceOf(RelayClosedError);
  });

  it.skipIf(typeof (globalThis as { WebSocket?: unknown }).WebSocket !== 'undefined')('asks for a WebSocket where the runtime has none (Node 20)', async () => {
    client = new RelayClient({ url: 'http://127.0.0.1:1', identity: alice, crypto });
    const connecting = expect(client.connect()).rejects.toMatchObject({ code: 'no_websocket' });
    await flush();
    await connecting;
    expect(client.state).toBe('closed');
  });

  it('refuses frames that are not valid before they reach the wire', async () => {
    make();
    await expect(client.send({ type: 'message', to: bob.did })).rejects.toThrow(/message frame/);
    await expect(client.send({ type: 'ack', to: bob.did })).rejects.toThrow(/not routed/);
    await expect(client.send({ type: 'knock', to: 'nobody', intent: {}, signature: toBase64Url(new Uint8Array(64)) })).rejects.toThrow();
  });

  it('refuses a frame nested too deep for JSON or the relay with a typed error, as a rejection', async () => {
    // Found by npm run fuzz: the serialisation's RangeError (a stack overflow) was thrown at the caller, untyped.
    make();
    let deep: unknown = 'x';
    for (let i = 0; i < 20_000; i++) deep = { d: deep };
    const tooDeep = client.send({ type: 'trust_challenge', to: bob.did, challenge: deep });
    await expect(tooDeep).rejects.toBeInstanceOf(InvalidFrameError);
    let forty: unknown = 'x';
    for (let i = 0; i < 40; i++) forty = [forty];
    await expect(client.send({ type: 'trust_challenge', to: bob.did, challenge: forty })).rejects.toBeInstanceOf(InvalidFrameError);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    await expect(client.send({ type: 'trust_challenge', to: bob.did, challenge: cyclic })).rejects.toBeInstanceOf(InvalidFrameError);
  });
});
