import { getDefaultCryptoProvider, type CryptoProvider } from '../crypto/index.js';
import type { AgentIdentity } from '../identity/agent-identity.js';
import { checkDurationOption, checkIntegerOption } from '../options.js';
import { backoffDelay, type BackoffOptions } from './backoff.js';
import { InvalidFrameError, RelayClosedError, RelayError } from './errors.js';
import { jsonNestingExceeds } from '../wire/json.js';
import {
  DEFAULT_MAX_FRAME_CHARS,
  MAX_FRAME_DEPTH,
  FRAME_VERSION,
  RELAY_ADDRESS,
  checkRoutedFrame,
  createFrame,
  isRoutedType,
  newFrameId,
  parseFrame,
  type Frame,
  type RoutedFrame,
} from './frames.js';
import { RequestSigner, relayPath } from './signing.js';

/** The part of the WebSocket API the client uses (browsers, Workers, undici and `ws` all have it). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'open' | 'message' | 'close' | 'error', listener: (event: never) => void): void;
}

/**
 * Opens a socket to `url`. The default is the runtime's `WebSocket` (browsers, Workers, Node 22+);
 * on Node 20, which has none, the package's Node entry falls back to the optional peer dependency
 * `undici`. Pass a factory to use another (`ws`, a proxy). In a Worker, return `(await fetch(url, { headers: { Upgrade: 'websocket' } })).webSocket`
 * after calling `accept()` on it: a socket that is already open is used as it is.
 */
export type WebSocketFactory = (url: string) => WebSocketLike | Promise<WebSocketLike>;

/** Largest `maxFrameChars` accepted: a frame is parsed whole in memory. */
const MAX_FRAME_CHARS_OPTION = 16 * 1024 * 1024;

export type RelayState = 'idle' | 'connecting' | 'open' | 'closed';

/**
 * Receives a frame another agent sent. The relay's copy is acknowledged (deleted) only after the
 * returned promise resolves, so resolve once the message is persisted; throw to leave it on the
 * relay, which delivers it again on the next connection.
 */
export type RelayFrameHandler = (frame: RoutedFrame) => void | Promise<void>;

export type RelayEvent =
  | { type: 'state'; state: RelayState }
  | { type: 'connected'; pending: number }
  | { type: 'error'; error: unknown };

/** What `send` takes: a routed frame's body; `v`, `from`, `id` and `ts` are filled in when absent. */
export type OutgoingFrame = { type: string; to: string; id?: string; ts?: string } & Record<string, unknown>;

export interface RelaySendOptions {
  /**
   * Send only when no ordinary frame waits (default false). For work done on another agent's
   * behalf (handshake answers to strangers), so that it never delays this agent's own traffic.
   */
  background?: boolean;
}

export interface RelayReceipt {
  id: string;
  /** `delivered` (pushed to an open socket), `stored` (waits for the recipient) or `duplicate`. */
  status: string;
}

export interface RelayClientOptions {
  /** The service's base URL (http(s) or ws(s)). */
  url: string;
  identity: AgentIdentity;
  webSocket?: WebSocketFactory;
  /** Heartbeat period (default 30 s). */
  heartbeatIntervalMs?: number;
  /** Reconnect when nothing was heard from the relay for this long (default 90 s). */
  idleTimeoutMs?: number;
  /** Reconnect when an opened socket does not complete `connect` within this (default 15 s). */
  handshakeTimeoutMs?: number;
  /** `connect()` gives up (and closes the client) after this (default 30 s; 0 waits forever). */
  connectTimeoutMs?: number;
  /** A sent frame not confirmed by the relay within this fails with `send_timeout` (default 60 s; 0 waits forever). */
  sendTimeoutMs?: number;
  backoff?: BackoffOptions;
  /** Random numbers in [0, 1) for the jitter. */
  random?: () => number;
  now?: () => number;
  crypto?: CryptoProvider;
  maxFrameChars?: number;
  /** How many handled frame ids are remembered to answer redeliveries without a second handler call (default 4096). */
  rememberHandled?: number;
  /**
   * Frames for which this returns true go to the handlers at once instead of waiting their turn
   * (default: none). For request–answer traffic such as the trust handshake, whose answers an
   * application handler may be waiting for.
   */
  unordered?: (frame: RoutedFrame) => boolean;
}

/** Close codes after which reconnecting cannot help. */
const FATAL_CLOSE_CODES = new Set([4401, 4403, 4404]);
const OPEN = 1;

interface PendingSend {
  text: string;
  background: boolean;
  resolve: (receipt: RelayReceipt) => void;
  reject: (error: unknown) => void;
  timer: ReturnType<typeof setTimeout> | null;
}

/**
 * A WebSocket connection to the relay for one agent: authenticates with a signed upgrade URL (and a
 * signed `connect` for older relays),
 * reconnects with exponential backoff and jitter, sends heartbeats, re-sends unconfirmed frames
 * after a reconnect (the relay deduplicates by id), and acknowledges received frames only after
 * the application's handler has resolved.
 */
export class RelayClient {
  readonly #o: Required<Omit<RelayClientOptions, 'webSocket' | 'backoff' | 'crypto'>> & { backoff: BackoffOptions };
  readonly #signer: RequestSigner;
  readonly #crypto: CryptoProvider;
  readonly #factory: WebSocketFactory;
  readonly #socketUrl: string;
  #state: RelayState = 'idle';
  #ws: WebSocketLike | null = null;
  #attempt = 0;
  #lastHeard = 0;
  #lastError: RelayError | null = null;
  #timers = new Set<ReturnType<typeof setTimeout>>();
  #heartbeat: ReturnType<typeof setInterval> | null = null;
  #waiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  /** Frames to send, in order; only the first is on the wire at a time (see `#pump`). */
  readonly #pending = new Map<string, PendingSend>();
  #sending: string | null = null;
  readonly #handlers = new Set<RelayFrameHandler>();
  readonly #listeners = new Set<(event: RelayEvent) => void>();
  /**
   * Frames handed to the application one at a time per sender, in arrival order (which is that
   * sender's send order). Senders do not wait for each other: one whose frame takes long (a
   * handshake with a peer that never answers) delays only its own later frames.
   */
  readonly #inbound = new Map<string, Promise<void>>();
  readonly #inFlight = new Set<string>();
  readonly #handled = new Map<string, true>();

  constructor(options: RelayClientOptions) {
    for (const name of ['heartbeatIntervalMs', 'idleTimeoutMs', 'handshakeTimeoutMs'] as const) checkDurationOption(name, options[name]);
    // 0 turns these two off.
    for (const name of ['connectTimeoutMs', 'sendTimeoutMs'] as const) checkDurationOption(name, options[name], 0);
    checkIntegerOption('maxFrameChars', options.maxFrameChars, 1, MAX_FRAME_CHARS_OPTION);
    this.#o = {
      heartbeatIntervalMs: 30_000,
      idleTimeoutMs: 90_000,
      handshakeTimeoutMs: 15_000,
      connectTimeoutMs: 30_000,
      sendTimeoutMs: 60_000,
      random: Math.random,
      now: Date.now,
      maxFrameChars: DEFAULT_MAX_FRAME_CHARS,
      rememberHandled: 4096,
      unordered: () => false,
      ...options,
      backoff: options.backoff ?? {},
    };
    this.#signer = new RequestSigner(options.identity, { now: this.#o.now });
    this.#crypto = options.crypto ?? getDefaultCryptoProvider();
    this.#factory = options.webSocket ?? defaultWebSocket;
    const url = new URL(options.url);
    const scheme = { 'http:': 'ws:', 'https:': 'wss:', 'ws:': 'ws:', 'wss:': 'wss:' }[url.protocol];
    if (!scheme) throw new TypeError('the relay URL must be http(s) or ws(s)');
    url.protocol = scheme;
    this.#socketUrl = url.href.replace(/\/+$/, '') + relayPath(options.identity.did);
  }

  get did(): string {
    return this.#signer.did;
  }

  get state(): RelayState {
    return this.#state;
  }

  /** Adds a handler for frames from other agents; returns a function that removes it. */
  onFrame(handler: RelayFrameHandler): () => void {
    this.#handlers.add(handler);
    return () => this.#handlers.delete(handler);
  }

  onEvent(listener: (event: RelayEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Connects (and keeps reconnecting); resolves once the relay has accepted `connect`. */
  connect(): Promise<void> {
    if (this.#state === 'closed') return Promise.reject(this.#lastError ?? new RelayClosedError());
    if (this.#state === 'open') return Promise.resolve();
    const promise = new Promise<void>((resolve, reject) => this.#waiters.push({ resolve, reject }));
    if (this.#state === 'idle') {
      this.#setState('connecting');
      if (this.#o.connectTimeoutMs > 0) {
        this.#after(this.#o.connectTimeoutMs, () => {
          if (this.#state !== 'open' && this.#waiters.length) {
            void this.#shutdown(new RelayError('connect_timeout', `no connection to the relay within ${this.#o.connectTimeoutMs} ms`));
          }
        });
      }
      void this.#open();
    }
    return promise;
  }

  /**
   * Sends a frame to another agent. Resolves when the relay has stored (or pushed) it; while the
   * connection is down the frame waits and is sent after reconnecting. Frames go out one at a
   * time, in the order `send` was called, so the recipient gets them in that order; background
   * frames (see `RelaySendOptions`) go only when no other frame waits.
   */
  send(frame: OutgoingFrame, options: RelaySendOptions = {}): Promise<RelayReceipt> {
    if (this.#state === 'closed') return Promise.reject(this.#lastError ?? new RelayClosedError());
    let full: RoutedFrame;
    try {
      full = checkRoutedFrame({
        ...frame,
        v: FRAME_VERSION,
        from: this.did,
        id: frame.id ?? newFrameId(this.#crypto),
        ts: frame.ts ?? new Date(this.#o.now()).toISOString(),
      } as Frame);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#pending.has(full.id)) return Promise.reject(new RelayError('duplicate_id', `frame ${full.id} is already being sent`));
    let text: string;
    try {
      text = JSON.stringify(full);
    } catch (cause) {
      // Too deep for the serialiser (a stack overflow), cyclic, or holding a BigInt.
      return Promise.reject(new InvalidFrameError('the frame cannot be written as JSON', { cause }));
    }
    if (jsonNestingExceeds(text, MAX_FRAME_DEPTH)) {
      return Promise.reject(new InvalidFrameError(`frame nested deeper than ${MAX_FRAME_DEPTH} levels (the relay refuses it)`));
    }
    if (text.length > this.#o.maxFrameChars) {
      return Promise.reject(new RelayError('frame_too_large', `the frame is larger than ${this.#o.maxFrameChars} characters`));
    }
    return new Promise<RelayReceipt>((resolve, reject) => {
      const entry: PendingSend = { text, background: options.background === true, resolve, reject, timer: null };
      if (this.#o.sendTimeoutMs > 0) {
        entry.timer = this.#after(this.#o.sendTimeoutMs, () => {
          this.#settle(full.id);
          reject(new RelayError('send_timeout', `the relay did not confirm frame ${full.id}`, { refId: full.id }));
        });
      }
      this.#pending.set(full.id, entry);
      this.#pump();
    });
  }

  /** Closes the connection for good; waiting sends fail with `RelayClosedError`. */
  async close(): Promise<void> {
    await this.#shutdown(new RelayClosedError());
  }

  async #shutdown(reason: unknown): Promise<void> {
    if (this.#state === 'closed') return;
    this.#lastError = reason instanceof RelayError ? reason : null;
    this.#setState('closed');
    this.#stopHeartbeat();
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    const ws = this.#ws;
    this.#ws = null;
    try {
      ws?.close(1000, 'client closed');
    } catch {
      // Already closing.
    }
    for (const w of this.#waiters.splice(0)) w.reject(reason);
    for (const [id, p] of this.#pending) {
      if (p.timer) clearTimeout(p.timer);
      p.reject(reason);
      this.#pending.delete(id);
    }
  }

  async #open(): Promise<void> {
    if (this.#state === 'closed') return;
    let ws: WebSocketLike;
    try {
      ws = await this.#factory(await this.#signedSocketUrl());
    } catch (error) {
      if (error instanceof RelayError && error.code === 'no_websocket') return this.#shutdown(error);
      this.#emit({ type: 'error', error });
      return this.#reconnectLater();
    }
    if ((this.#state as RelayState) === 'closed') {
      ws.close(1000, 'client closed');
      return;
    }
    this.#ws = ws;
    this.#lastHeard = this.#o.now();
    ws.addEventListener('message', ((event: { data: unknown }) => this.#onMessage(ws, event.data)) as (e: never) => void);
    ws.addEventListener('close', ((event: { code?: number; reason?: string }) => this.#onClose(ws, event.code ?? 1006)) as (e: never) => void);
    ws.addEventListener('error', (() => {
      // A close event follows; reconnecting is decided there.
    }) as (e: never) => void);
    this.#after(this.#o.handshakeTimeoutMs, () => {
      if (this.#ws === ws && this.#state !== 'open') this.#drop(ws, 4000, 'handshake timeout');
    });
    if (ws.readyState === OPEN) void this.#sendConnect(ws);
    else ws.addEventListener('open', (() => void this.#sendConnect(ws)) as (e: never) => void);
  }

  /**
   * The socket URL with the upgrade request's signature in `auth` (browsers cannot set headers on
   * a WebSocket): the relay verifies it before it accepts the socket, so a socket that is not the
   * owner's never takes one of the owner's places.
   */
  async #signedSocketUrl(): Promise<string> {
    const url = new URL(this.#socketUrl);
    url.searchParams.set('auth', await this.#signer.authorization('GET', relayPath(this.did)));
    return url.href;
  }

  /** The `connect` frame: a relay that verified the upgrade ignores it; older relays authenticate with it. */
  async #sendConnect(ws: WebSocketLike): Promise<void> {
    try {
      const auth = await this.#signer.connectAuth();
      if (this.#ws !== ws) return;
      ws.send(JSON.stringify(createFrame('connect', this.did, RELAY_ADDRESS, { auth, supported_versions: [FRAME_VERSION] }, { crypto: this.#crypto, now: this.#o.now })));
    } catch (error) {
      this.#emit({ type: 'error', error });
      this.#drop(ws, 4000, 'connect failed');
    }
  }

  #onMessage(ws: WebSocketLike, data: unknown): void {
    if (ws !== this.#ws) return;
    this.#lastHeard = this.#o.now();
    if (typeof data !== 'string') return;
    let frame: Frame;
    try {
      frame = parseFrame(data, this.#o.maxFrameChars);
    } catch (error) {
      this.#emit({ type: 'error', error });
      return;
    }
    switch (frame.type) {
      case 'connected':
        return this.#onConnected(ws, frame);
      case 'heartbeat':
        return;
      case 'ack': {
        const p = typeof frame.ack_id === 'string' ? this.#pending.get(frame.ack_id) : undefined;
        if (frame.from === RELAY_ADDRESS && p) {
          this.#settle(frame.ack_id as string);
          p.resolve({ id: frame.ack_id as string, status: typeof frame.status === 'string' ? frame.status : 'stored' });
        }
        return;
      }
      case 'error':
        // Errors from the relay; an agent's own `error` answers are routed like any frame.
        if (frame.from === RELAY_ADDRESS) return this.#onRelayError(frame);
        break;
      default:
        break;
    }
    if (!isRoutedType(frame.type)) return;
    let routed: RoutedFrame;
    try {
      routed = checkRoutedFrame(frame);
    } catch (error) {
      this.#emit({ type: 'error', error });
      return;
    }
    if (routed.to !== this.did) return;
    this.#receive(routed);
  }

  #onConnected(ws: WebSocketLike, frame: Frame): void {
    this.#attempt = 0;
    this.#lastError = null;
    this.#setState('open');
    this.#startHeartbeat(ws);
    this.#emit({ type: 'connected', pending: typeof frame.pending === 'number' ? frame.pending : 0 });
    for (const w of this.#waiters.splice(0)) w.resolve();
    // Unconfirmed frames go again, in their original order; the relay drops duplicates by id.
    this.#sending = null;
    this.#pump();
  }

  /**
   * Sends the oldest unconfirmed frame unless one is already on the wire, ordinary frames before
   * background ones. One at a time because the runtime may hand a Durable Object the messages of
   * one socket out of order; waiting for each confirmation makes the relay store them in send order.
   */
  #pump(): void {
    if (this.#state !== 'open' || !this.#ws || this.#sending !== null) return;
    let next: [string, PendingSend] | undefined;
    for (const entry of this.#pending) {
      if (!entry[1].background) {
        next = entry;
        break;
      }
      next ??= entry;
    }
    if (!next) return;
    const [id, p] = next;
    this.#sending = id;
    try {
      this.#ws.send(p.text);
    } catch {
      // The socket is going away; the frame goes again after reconnecting.
    }
  }

  /** Forgets a frame that was confirmed, refused or timed out, and sends the next. */
  #settle(id: string): void {
    const p = this.#pending.get(id);
    if (p?.timer) clearTimeout(p.timer);
    this.#pending.delete(id);
    if (this.#sending === id) this.#sending = null;
    this.#pump();
  }

  #onRelayError(frame: Frame): void {
    const code = typeof frame.code === 'string' ? frame.code : 'relay_error';
    const message = typeof frame.message === 'string' ? frame.message : 'the relay refused a frame';
    const refId = typeof frame.ref_id === 'string' ? frame.ref_id : null;
    const error = new RelayError(code, message, { refId });
    const p = refId ? this.#pending.get(refId) : undefined;
    if (p && refId) {
      this.#settle(refId);
      p.reject(error);
      return;
    }
    this.#lastError = error;
    this.#emit({ type: 'error', error });
  }

  #receive(frame: RoutedFrame): void {
    const key = `${frame.from} ${frame.id}`;
    if (this.#inFlight.has(key)) return;
    this.#inFlight.add(key);
    const handle = async () => {
      try {
        if (!this.#handled.has(key)) {
          if (this.#handlers.size === 0) return;
          for (const handler of [...this.#handlers]) await handler(frame);
          this.#remember(key);
        }
        this.#ack(frame);
      } catch (error) {
        this.#emit({ type: 'error', error });
      } finally {
        this.#inFlight.delete(key);
      }
    };
    // Request–answer traffic must not queue behind a handler that may itself be waiting for it.
    if (this.#o.unordered(frame)) {
      void handle();
      return;
    }
    const lane = (this.#inbound.get(frame.from) ?? Promise.resolve()).then(handle);
    this.#inbound.set(frame.from, lane);
    void lane.then(() => {
      if (this.#inbound.get(frame.from) === lane) this.#inbound.delete(frame.from);
    });
  }

  #remember(key: string): void {
    this.#handled.set(key, true);
    if (this.#handled.size > this.#o.rememberHandled) {
      const oldest = this.#handled.keys().next();
      if (!oldest.done) this.#handled.delete(oldest.value);
    }
  }

  #ack(frame: RoutedFrame): void {
    const ws = this.#ws;
    if (!ws || this.#state !== 'open') return; // Redelivered after reconnect; acknowledged then.
    try {
      ws.send(JSON.stringify(createFrame('ack', this.did, frame.from, { ack_id: frame.id }, { crypto: this.#crypto, now: this.#o.now })));
    } catch {
      // The socket went away; the frame comes again and is acknowledged then.
    }
  }

  #onClose(ws: WebSocketLike, code: number): void {
    if (ws !== this.#ws) return;
    this.#ws = null;
    this.#sending = null;
    this.#stopHeartbeat();
    if (this.#state === 'closed') return;
    if (FATAL_CLOSE_CODES.has(code)) {
      const error = this.#lastError ?? new RelayError('connection_refused', `the relay closed the connection (${code})`);
      void this.#shutdown(error);
      this.#emit({ type: 'error', error });
      return;
    }
    this.#setState('connecting');
    this.#reconnectLater();
  }

  /** Gives up on a socket now (some implementations report `close` late or never for a dead peer). */
  #drop(ws: WebSocketLike, code: number, reason: string): void {
    try {
      ws.close(code, reason);
    } catch {
      // Already closed.
    }
    this.#onClose(ws, 1006);
  }

  #reconnectLater(): void {
    if (this.#state === 'closed') return;
    const delay = backoffDelay(this.#attempt, this.#o.backoff, this.#o.random);
    this.#attempt += 1;
    this.#after(delay, () => void this.#open());
  }

  #startHeartbeat(ws: WebSocketLike): void {
    this.#stopHeartbeat();
    this.#heartbeat = setInterval(() => {
      if (this.#ws !== ws) return this.#stopHeartbeat();
      if (this.#o.now() - this.#lastHeard > this.#o.idleTimeoutMs) return this.#drop(ws, 4000, 'relay silent');
      try {
        ws.send(JSON.stringify(createFrame('heartbeat', this.did, RELAY_ADDRESS, {}, { crypto: this.#crypto, now: this.#o.now })));
      } catch {
        this.#drop(ws, 4000, 'send failed');
      }
    }, this.#o.heartbeatIntervalMs);
  }

  #stopHeartbeat(): void {
    if (this.#heartbeat !== null) clearInterval(this.#heartbeat);
    this.#heartbeat = null;
  }

  #after(ms: number, fn: () => void): ReturnType<typeof setTimeout> {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      fn();
    }, ms);
    this.#timers.add(t);
    return t;
  }

  #setState(state: RelayState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.#emit({ type: 'state', state });
  }

  #emit(event: RelayEvent): void {
    for (const l of [...this.#listeners]) {
      try {
        l(event);
      } catch {
        // A listener's failure is its own.
      }
    }
  }
}

type WebSocketConstructor = new (url: string) => WebSocketLike;
let fallbackWebSocket: (() => Promise<WebSocketConstructor | undefined>) | undefined;

/**
 * Where the default factory looks when the runtime has no global `WebSocket`. Set once by the
 * package's Node entry (undici, loaded only when a relay connects), so browsers and Workers never
 * see the import.
 */
export function setWebSocketFallback(load: () => Promise<WebSocketConstructor | undefined>): void {
  fallbackWebSocket = load;
}

async function defaultWebSocket(url: string): Promise<WebSocketLike> {
  const Ctor = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket ?? (await fallbackWebSocket?.());
  if (!Ctor) {
    throw new RelayError(
      'no_websocket',
      'this runtime has no global WebSocket: on Node 20 install the optional peer dependency undici (npm install undici), or pass options.webSocket',
    );
  }
  return new Ctor(url);
}
