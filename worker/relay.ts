import { InvalidFrameError, RequestAuthError, fromBase64Any, isValidDid } from '../src/index.js';
import {
  CONNECT_METHOD,
  FRAME_VERSION,
  RELAY_ADDRESS,
  bodyDigest,
  checkAckFrame,
  checkFreshness,
  checkRoutedFrame,
  createFrame,
  isRoutedType,
  isUuid,
  parseFrame,
  parseSignature,
  parseTimestamp,
  relayPath,
  replayKey,
  verifySignature,
  type Frame,
} from '../src/protocol.js';
import type { RelayHost, RequestContext } from './host.js';
import { HttpError, badRequest, bodyText, json, parseJsonObject, rawJson, readBody } from './http.js';
import { RateLimiter } from './rate-limit.js';
import type { DeliverResult } from './rpc.js';
import { readOptionalInt } from './validate.js';

/** Per-socket state that survives hibernation (kept by the runtime, not in storage). */
interface SocketState {
  authed: boolean;
  openedAt: number;
  lastSeen: number;
}

/** WebSocket close codes the relay uses; clients treat 4401, 4403 and 4404 as final. */
export const CLOSE = {
  protocol: 4400,
  unauthenticated: 4401,
  forbidden: 4403,
  gone: 4404,
  timeout: 4408,
  replaced: 4409,
} as const;

const WS_OPEN = 1;

const refuse = (status: number, code: string, message: string): DeliverResult => ({ ok: false, status, code, message });

/**
 * The relay half of an agent's object: its inbox (store, push, ack, expire) and its WebSockets,
 * accepted through the hibernation API so an idle connection costs nothing.
 */
export class Relay {
  /** Frames this agent sends are forwarded one after another, so the recipient stores them in send order. */
  #outgoing: Promise<unknown> = Promise.resolve();
  readonly #frameLimiter: RateLimiter;

  constructor(private readonly host: RelayHost) {
    this.#frameLimiter = new RateLimiter(host.config.rateLimitPerMinute);
  }

  // Inbox

  async deliverLocal(frameText: string, sender: string, id: string, tsMs: number): Promise<DeliverResult> {
    const { store, config } = this.host;
    const now = this.host.now();
    if (!store.registration()) return refuse(404, 'unknown_recipient', 'no agent is registered under the recipient DID');
    if (!(tsMs >= now - config.messageTtlMs)) return refuse(400, 'stale_frame', 'the frame is older than the relay keeps frames');
    if (tsMs > now + config.authWindowMs) return refuse(400, 'future_frame', 'the frame is dated in the future');
    store.purge(now, config.signedPreKeyRetentionMs);
    if (store.isDuplicate(sender, id)) return { ok: true, status: 'duplicate' };
    if (store.inboxCount() >= config.inboxMaxPerRecipient) {
      return refuse(429, 'inbox_full', 'the recipient has too many frames waiting');
    }
    if (store.inboxCount(sender) >= config.inboxMaxPerSender) {
      return refuse(429, 'inbox_full', 'too many of your frames wait for this recipient');
    }
    const expiresAt = now + config.messageTtlMs;
    store.addToInbox(sender, id, frameText, tsMs, expiresAt);
    const pushed = this.#push(frameText, now);
    await this.scheduleAlarm(expiresAt);
    return { ok: true, status: pushed ? 'delivered' : 'stored' };
  }

  /** An acknowledged id is remembered until a replay of its frame would be refused as stale. */
  #acknowledge(sender: string, id: string): boolean {
    const { messageTtlMs, authWindowMs } = this.host.config;
    return this.host.store.acknowledge(sender, id, (ts) => Math.max(ts, this.host.now()) + messageTtlMs + authWindowMs);
  }

  async #forward(frame: Frame, text: string): Promise<DeliverResult> {
    const tsMs = Date.parse(frame.ts);
    if (frame.to === this.host.store.registration()?.did) return this.deliverLocal(text, frame.from, frame.id, tsMs);
    try {
      return await this.host.deliverTo(frame.to, text, frame.from, frame.id, tsMs);
    } catch {
      return refuse(503, 'relay_unavailable', 'the recipient could not be reached; send again (the id makes it safe)');
    }
  }

  #enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#outgoing.then(task, task);
    this.#outgoing = run.catch(() => undefined);
    return run;
  }

  // HTTP fallback

  /** `POST /v1/agents/{did}/inbox`: a sender that cannot hold a socket posts one frame. */
  async httpPost(ctx: RequestContext, did: string): Promise<Response> {
    this.host.registered(did);
    const body = await readBody(ctx.request, this.host.config.maxFrameBytes);
    const auth = await this.host.authenticate(ctx, body);
    const frame = checkRoutedFrame(parseFrame(bodyText(body), this.host.config.maxFrameBytes));
    if (frame.to !== did) throw badRequest('wrong_recipient', 'the frame is addressed to another agent than this inbox');
    if (frame.from !== auth.did) throw new HttpError(403, 'forbidden', 'a frame must come from the agent that signs the request');
    const result = await this.deliverLocal(bodyText(body), frame.from, frame.id, Date.parse(frame.ts));
    if (!result.ok) throw new HttpError(result.status, result.code, result.message);
    return json({ id: frame.id, status: result.status }, 202);
  }

  /** `GET /v1/agents/{did}/inbox?limit=&after=` (owner only): waiting frames, oldest first. */
  async httpFetch(ctx: RequestContext, did: string): Promise<Response> {
    await this.host.authenticateOwner(ctx, did, null);
    const { maxInboxPage } = this.host.config;
    const limit = readOptionalInt(ctx.url.searchParams.get('limit'), 'limit', 1, maxInboxPage, maxInboxPage);
    const after = readOptionalInt(ctx.url.searchParams.get('after'), 'after', 0, 999_999_999, 0);
    const rows = this.host.store.inbox(limit + 1, after);
    const page = rows.slice(0, limit);
    const next = rows.length > limit ? page[page.length - 1]!.seq : null;
    // Stored frames go out exactly as they came in.
    return rawJson(`{"frames":[${page.map((r) => r.frame).join(',')}],"next":${next === null ? 'null' : String(next)}}`);
  }

  /** `POST /v1/agents/{did}/inbox/ack` (owner only): `{ acks: [{ from, id }] }` deletes those frames. */
  async httpAck(ctx: RequestContext, did: string): Promise<Response> {
    const body = await readBody(ctx.request, this.host.config.maxSmallBodyBytes);
    await this.host.authenticateOwner(ctx, did, body);
    const acks = parseJsonObject(body).acks;
    if (!Array.isArray(acks) || acks.length > this.host.config.maxAcksPerRequest) {
      throw badRequest('invalid_field', `"acks" must be an array of at most ${this.host.config.maxAcksPerRequest} { from, id }`);
    }
    const refs = acks.map((a: unknown) => {
      const r = a as { from?: unknown; id?: unknown } | null;
      if (typeof r !== 'object' || r === null || !isValidDid(r.from) || !isUuid(r.id)) {
        throw badRequest('invalid_field', 'each ack is { from: <sender DID>, id: <frame UUID> }');
      }
      return { from: r.from, id: r.id };
    });
    let acked = 0;
    for (const r of refs) if (this.#acknowledge(r.from, r.id)) acked += 1;
    return json({ acked });
  }

  // WebSocket

  /** `GET /v1/agents/{did}/relay` with `Upgrade: websocket`; the first frame must be `connect`. */
  async upgrade(ctx: RequestContext, did: string): Promise<Response> {
    this.host.registered(did);
    if (ctx.request.headers.get('upgrade')?.toLowerCase() !== 'websocket') {
      throw new HttpError(426, 'upgrade_required', 'the relay speaks WebSocket', { upgrade: 'websocket' });
    }
    if (this.host.state.getWebSockets().length >= this.host.config.maxSocketsPerAgent * 2) {
      throw new HttpError(429, 'too_many_connections', 'too many open connections for this agent');
    }
    const pair = new WebSocketPair();
    const server = pair[1];
    this.host.state.acceptWebSocket(server);
    server.serializeAttachment({ authed: false, openedAt: ctx.now, lastSeen: ctx.now } satisfies SocketState);
    await this.scheduleAlarm(ctx.now + this.host.config.connectTimeoutMs);
    return new Response(null, { status: 101, webSocket: pair[0] });
  }

  async onMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const state = ws.deserializeAttachment() as SocketState | null;
    if (!state) return this.#close(ws, CLOSE.protocol, 'unknown socket');
    const now = this.host.now();
    const refuseFrame = (status: number, code: string, text: string, refId?: string) => {
      this.#sendError(ws, status, code, text, refId);
      if (!state.authed) this.#close(ws, CLOSE.protocol, code);
    };
    if (typeof message !== 'string') return refuseFrame(400, 'invalid_frame', 'frames are JSON text, not binary');
    if (message.length > this.host.config.maxFrameBytes) {
      return refuseFrame(413, 'frame_too_large', `frames are limited to ${this.host.config.maxFrameBytes} characters`);
    }
    let frame: Frame;
    try {
      frame = parseFrame(message, this.host.config.maxFrameBytes);
    } catch (e) {
      return refuseFrame(400, 'invalid_frame', (e as Error).message);
    }
    if (!state.authed) {
      if (frame.type !== 'connect') return refuseFrame(400, 'unauthenticated', 'the first frame must be an authenticated "connect"');
      return this.#connect(ws, state, frame, now);
    }
    state.lastSeen = now;
    ws.serializeAttachment(state);
    const did = this.host.store.registration()?.did;
    if (!did) return this.#close(ws, CLOSE.gone, 'agent deregistered');
    try {
      switch (frame.type) {
        case 'heartbeat':
          this.host.store.setMeta('last_seen', String(now));
          this.#send(ws, createFrame('heartbeat', RELAY_ADDRESS, did));
          return;
        case 'ack': {
          if (frame.from !== did) return this.#sendError(ws, 403, 'forbidden', 'acks come from this agent', frame.id);
          const { sender, ackId } = checkAckFrame(frame);
          this.#acknowledge(sender, ackId);
          return;
        }
        case 'connect':
          return this.#sendError(ws, 400, 'already_connected', 'this socket is already authenticated', frame.id);
        default:
          break;
      }
      if (!isRoutedType(frame.type)) return this.#sendError(ws, 400, 'unknown_type', `unknown frame type ${frame.type}`, frame.id);
      const routed = checkRoutedFrame(frame);
      if (routed.from !== did) return this.#sendError(ws, 403, 'forbidden', 'frames on this socket must come from its agent', frame.id);
      if (this.#frameLimiter.hit(did, now) > 0) return this.#sendError(ws, 429, 'rate_limited', 'too many frames; slow down', frame.id);
      const result = await this.#enqueue(() => this.#forward(routed, message));
      if (result.ok) this.#send(ws, createFrame('ack', RELAY_ADDRESS, did, { ack_id: frame.id, status: result.status }));
      else this.#sendError(ws, result.status, result.code, result.message, frame.id);
    } catch (e) {
      if (e instanceof InvalidFrameError) return this.#sendError(ws, 400, 'invalid_frame', e.message, frame.id);
      console.error('relay frame failed', e);
      this.#sendError(ws, 500, 'internal_error', 'the relay failed to handle this frame', frame.id);
    }
  }

  async #connect(ws: WebSocket, state: SocketState, frame: Frame, now: number): Promise<void> {
    const reg = this.host.store.registration();
    if (!reg) return this.#close(ws, CLOSE.gone, 'agent not registered');
    const fail = (closeCode: number, status: number, code: string, message: string) => {
      this.#sendError(ws, status, code, message, frame.id);
      this.#close(ws, closeCode, code);
    };
    if (frame.from !== reg.did) return fail(CLOSE.forbidden, 403, 'forbidden', 'this relay endpoint belongs to another agent');
    const versions = frame.supported_versions ?? [FRAME_VERSION];
    if (!Array.isArray(versions) || versions.length > 16 || !versions.includes(FRAME_VERSION)) {
      return fail(CLOSE.protocol, 400, 'unsupported_version', `this relay speaks version ${FRAME_VERSION}`);
    }
    const auth = frame.auth as { timestamp?: unknown; signature?: unknown } | undefined;
    try {
      if (typeof auth !== 'object' || auth === null) throw new RequestAuthError('unauthenticated', 'connect needs auth: { timestamp, signature }');
      const timestamp = auth.timestamp as string;
      const timestampMs = parseTimestamp(timestamp);
      const signature = parseSignature(auth.signature);
      checkFreshness(timestampMs, now, this.host.config.authWindowMs);
      const path = relayPath(reg.did);
      const digestHex = bodyDigest();
      const form = await verifySignature({
        auth: { timestamp, signature },
        publicKey: fromBase64Any(reg.publicKey),
        method: CONNECT_METHOD,
        path,
        digestHex,
        allowTimestampOnly: this.host.config.allowTimestampOnlyAuth,
      });
      const key = replayKey(reg.did, form, timestamp, CONNECT_METHOD, path, digestHex);
      if (!this.host.store.rememberSignature(key, timestampMs + this.host.config.authWindowMs + 1000)) {
        throw new RequestAuthError('replayed_signature', 'this connect signature was already used');
      }
    } catch (e) {
      if (e instanceof RequestAuthError) return fail(CLOSE.unauthenticated, 401, e.code, e.message);
      throw e;
    }
    if (ws.readyState !== WS_OPEN) return;
    state.authed = true;
    state.lastSeen = now;
    ws.serializeAttachment(state);
    this.#limitSockets(ws);
    this.host.store.setMeta('last_seen', String(now));
    const pending = this.host.store.inbox(this.host.config.inboxMaxPerRecipient);
    this.#send(ws, createFrame('connected', RELAY_ADDRESS, reg.did, {
      version: FRAME_VERSION,
      heartbeat_seconds: this.host.config.heartbeatMs / 1000,
      pending: pending.length,
    }));
    // Everything stored while the agent was away, in arrival order (which is each sender's send order).
    for (const row of pending) ws.send(row.frame);
    await this.scheduleAlarm(now + this.host.config.offlineAfterMs);
  }

  /** Keeps the newest authenticated sockets; older ones beyond the cap are closed. */
  #limitSockets(newest: WebSocket): void {
    const authed = this.#authedSockets().filter((s) => s.ws !== newest);
    authed.sort((a, b) => b.state.openedAt - a.state.openedAt);
    for (const { ws } of authed.slice(this.host.config.maxSocketsPerAgent - 1)) this.#close(ws, CLOSE.replaced, 'replaced by a newer connection');
  }

  onClose(ws: WebSocket, code: number): void {
    const state = ws.deserializeAttachment() as SocketState | null;
    if (state?.authed && this.host.store.registration()) this.host.store.setMeta('last_seen', String(this.host.now()));
    // The hibernation API leaves the close handshake to us.
    this.#close(ws, code >= 1000 && code < 5000 && ![1005, 1006, 1015].includes(code) ? code : 1000, 'closed');
  }

  closeAll(code: number, reason: string): void {
    for (const ws of this.host.state.getWebSockets()) this.#close(ws, code, reason);
  }

  /** Alarm: expire frames and replay-cache entries, close silent sockets, and plan the next run. */
  async sweep(): Promise<void> {
    const now = this.host.now();
    const { config, store } = this.host;
    let next = store.purge(now, config.signedPreKeyRetentionMs);
    for (const ws of this.host.state.getWebSockets()) {
      const state = ws.deserializeAttachment() as SocketState | null;
      if (!state) continue;
      const deadline = state.authed ? state.lastSeen + config.offlineAfterMs : state.openedAt + config.connectTimeoutMs;
      if (now >= deadline) {
        if (state.authed && store.registration()) store.setMeta('last_seen', String(state.lastSeen));
        this.#close(ws, CLOSE.timeout, state.authed ? 'no heartbeat' : 'no connect frame');
      } else {
        next = next === null ? deadline : Math.min(next, deadline);
      }
    }
    if (next !== null) await this.host.state.storage.setAlarm(Math.max(next, now + 1000));
  }

  async scheduleAlarm(at: number): Promise<void> {
    const current = await this.host.state.storage.getAlarm();
    if (current === null || at < current) await this.host.state.storage.setAlarm(at);
  }

  presence(now: number): { online: boolean; lastSeen: number | null } {
    const online = this.#onlineSockets(now).length > 0;
    const stored = this.host.store.getMeta('last_seen');
    let lastSeen = stored === null ? null : Number(stored);
    for (const { state } of this.#onlineSockets(now)) lastSeen = Math.max(lastSeen ?? 0, state.lastSeen);
    return { online, lastSeen };
  }

  #authedSockets(): { ws: WebSocket; state: SocketState }[] {
    const out: { ws: WebSocket; state: SocketState }[] = [];
    for (const ws of this.host.state.getWebSockets()) {
      const state = ws.deserializeAttachment() as SocketState | null;
      if (state?.authed && ws.readyState === WS_OPEN) out.push({ ws, state });
    }
    return out;
  }

  #onlineSockets(now: number) {
    return this.#authedSockets().filter((s) => now - s.state.lastSeen < this.host.config.offlineAfterMs);
  }

  #push(frameText: string, now: number): boolean {
    let pushed = false;
    for (const { ws } of this.#onlineSockets(now)) {
      try {
        ws.send(frameText);
        pushed = true;
      } catch {
        // A socket closing under us: the frame stays stored and goes out on reconnect.
      }
    }
    return pushed;
  }

  #send(ws: WebSocket, frame: Frame): void {
    try {
      ws.send(JSON.stringify(frame));
    } catch {
      // Closed meanwhile; nothing to tell.
    }
  }

  #sendError(ws: WebSocket, status: number, code: string, message: string, refId?: string): void {
    const to = this.host.store.registration()?.did ?? RELAY_ADDRESS;
    this.#send(ws, createFrame('error', RELAY_ADDRESS, to, { code, status, message, ...(refId ? { ref_id: refId } : {}) }));
  }

  #close(ws: WebSocket, code: number, reason: string): void {
    try {
      ws.close(code, reason.slice(0, 120));
    } catch {
      // Already closed.
    }
  }
}
