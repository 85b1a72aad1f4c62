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
import type { Registration } from './agent-store.js';
import type { RelayHost, RequestContext } from './host.js';
import { HttpError, badRequest, bodyText, clientAddress, json, parseJsonObject, rawJson, readBody } from './http.js';
import { RateLimiter } from './rate-limit.js';
import type { DeliverResult } from './rpc.js';
import { readOptionalInt } from './validate.js';

/** Per-socket state that survives hibernation (kept by the runtime, not in storage). */
interface SocketState {
  authed: boolean;
  openedAt: number;
  lastSeen: number;
  /** Sockets waiting for `connect`: the address whose budget they use. */
  address?: string;
  /** Authenticated by the signed upgrade request: a `connect` frame (sent for older relays) is ignored. */
  upgraded?: boolean;
  /** Paging (authenticated sockets): the highest seq sent on this socket. */
  sent: number;
  /** Unacknowledged frames at or below this seq no longer hold the window (`backlogHoldMs`). */
  held: number;
  /** The last seq stored when the socket authenticated: urgent frames above it were pushed on arrival. */
  since: number;
  /** When the last page went out (0: none yet). */
  pageAt: number;
}

/** Frame types an agent sends only to peers it chose: their senders' frames to it are not a stranger's. */
const CONTACT_TYPES = new Set(['message', 'knock', 'knock_accept']);

/**
 * Request–answer traffic (the trust handshake and answers naming a request): clients handle it
 * out of order, and a handler may be waiting for it, so it is pushed on arrival and never waits
 * behind the paging window.
 */
export function isUrgent(frame: { type: string; reply_to?: unknown }): boolean {
  return frame.type.startsWith('trust_') || typeof frame.reply_to === 'string';
}

const encoder = new TextEncoder();
const utf8Bytes = (text: string) => encoder.encode(text).length;

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

  async deliverLocal(frameText: string, sender: string, id: string, tsMs: number, urgent = false): Promise<DeliverResult> {
    const { store, config } = this.host;
    const now = this.host.now();
    if (!store.registration()) return refuse(404, 'unknown_recipient', 'no agent is registered under the recipient DID');
    if (!(tsMs >= now - config.messageTtlMs)) return refuse(400, 'stale_frame', 'the frame is older than the relay keeps frames');
    if (tsMs > now + config.authWindowMs) return refuse(400, 'future_frame', 'the frame is dated in the future');
    store.purge(now, config.signedPreKeyRetentionMs);
    if (store.isDuplicate(sender, id)) return { ok: true, status: 'duplicate' };
    const bytes = utf8Bytes(frameText);
    const full = this.#overQuota(sender, bytes);
    if (full) return refuse(429, 'inbox_full', full);
    const expiresAt = now + config.messageTtlMs;
    const seq = store.addToInbox(sender, id, frameText, bytes, urgent, tsMs, expiresAt);
    const pushed = this.#pushNew(seq, frameText, urgent, now);
    await this.scheduleAlarm(expiresAt);
    return { ok: true, status: pushed ? 'delivered' : 'stored' };
  }

  /**
   * Why a frame of `bytes` from `sender` does not fit, or null. Strangers (senders this agent
   * never wrote to) get a smaller quota each and one shared pool, so that any number of fresh
   * DIDs can fill only that pool, never the room the agent's established peers write into.
   */
  #overQuota(sender: string, bytes: number): string | null {
    const { store, config: c } = this.host;
    const all = store.inboxUse();
    if (all.count + 1 > c.inboxMaxPerRecipient || all.bytes + bytes > c.inboxMaxBytesPerRecipient) {
      return 'the recipient has too many frames waiting';
    }
    const peer = store.isPeer(sender);
    const mine = store.inboxUse(sender);
    const maxCount = peer ? c.inboxMaxPerSender : Math.min(c.inboxMaxPerStranger, c.inboxMaxPerSender);
    const maxBytes = peer ? c.inboxMaxBytesPerSender : Math.min(c.inboxMaxBytesPerStranger, c.inboxMaxBytesPerSender);
    if (mine.count + 1 > maxCount || mine.bytes + bytes > maxBytes) return 'too many of your frames wait for this recipient';
    if (!peer) {
      const strangers = store.strangersUse();
      if (strangers.count + 1 > c.inboxMaxFromStrangers || strangers.bytes + bytes > c.inboxMaxBytesFromStrangers) {
        return 'the recipient has too many frames waiting from agents it has not written to';
      }
    }
    return null;
  }

  /** An acknowledged id is remembered until a replay of its frame would be refused as stale. */
  #acknowledge(sender: string, id: string): boolean {
    const { messageTtlMs, authWindowMs } = this.host.config;
    return this.host.store.acknowledge(sender, id, (ts) => Math.max(ts, this.host.now()) + messageTtlMs + authWindowMs);
  }

  async #forward(frame: Frame, text: string): Promise<DeliverResult> {
    const tsMs = Date.parse(frame.ts);
    const urgent = isUrgent(frame);
    let result: DeliverResult;
    if (frame.to === this.host.store.registration()?.did) result = await this.deliverLocal(text, frame.from, frame.id, tsMs, urgent);
    else {
      try {
        result = await this.host.deliverTo(frame.to, text, frame.from, frame.id, tsMs, urgent);
      } catch {
        return refuse(503, 'relay_unavailable', 'the recipient could not be reached; send again (the id makes it safe)');
      }
    }
    // This agent chose to write to the recipient: its frames here are an established peer's from now on.
    if (result.ok && CONTACT_TYPES.has(frame.type)) this.notePeer(frame.to);
    return result;
  }

  /** Records that this agent wrote to `peer` (see `CONTACT_TYPES`). */
  notePeer(peer: string): void {
    const { store, config } = this.host;
    if (store.registration()) store.notePeer(peer, this.host.now(), config.maxPeers, config.peerRefreshMs);
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
    const result = await this.deliverLocal(bodyText(body), frame.from, frame.id, Date.parse(frame.ts), isUrgent(frame));
    if (!result.ok) throw new HttpError(result.status, result.code, result.message);
    if (CONTACT_TYPES.has(frame.type)) await this.host.notePeerOf(frame.from, did);
    return json({ id: frame.id, status: result.status }, 202);
  }

  /** `GET /v1/agents/{did}/inbox?limit=&after=` (owner only): waiting frames, oldest first. */
  async httpFetch(ctx: RequestContext, did: string): Promise<Response> {
    await this.host.authenticateOwner(ctx, did, null);
    const { maxInboxPage } = this.host.config;
    const limit = readOptionalInt(ctx.url.searchParams.get('limit'), 'limit', 1, maxInboxPage, maxInboxPage);
    const after = readOptionalInt(ctx.url.searchParams.get('after'), 'after', 0, 999_999_999, 0);
    // Bounded in bytes too, like a socket's page: one fetch never loads more than the window.
    const page = this.host.store.inbox(limit, after, this.host.config.backlogWindowBytes);
    const last = page.at(-1)?.seq;
    const next = last !== undefined && this.host.store.lastSeq() > last ? last : null;
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
    await this.#pumpAll(ctx.now);
    return json({ acked });
  }

  /**
   * `POST /v1/agents/{did}/inbox/purge` (owner only): `{ senders?: [DID], strangers?: true }`
   * deletes every waiting frame of those senders, or of every sender this agent never wrote to,
   * in one request: the way out when strangers fill the inbox.
   */
  async httpPurge(ctx: RequestContext, did: string): Promise<Response> {
    const body = await readBody(ctx.request, this.host.config.maxSmallBodyBytes);
    await this.host.authenticateOwner(ctx, did, body);
    const fields = parseJsonObject(body);
    const senders = fields.senders ?? [];
    const max = this.host.config.maxPurgeSenders;
    if (!Array.isArray(senders) || senders.length > max || !senders.every((s) => isValidDid(s))) {
      throw badRequest('invalid_field', `"senders" must be an array of at most ${max} DIDs`);
    }
    const strangers = fields.strangers ?? false;
    if (typeof strangers !== 'boolean') throw badRequest('invalid_field', '"strangers" must be a boolean');
    const { messageTtlMs, authWindowMs } = this.host.config;
    const purged = this.host.store.purgeSenders(
      { senders: senders as string[], strangers },
      (ts) => Math.max(ts, this.host.now()) + messageTtlMs + authWindowMs,
    );
    await this.#pumpAll(ctx.now);
    return json({ purged });
  }

  // WebSocket

  /**
   * `GET /v1/agents/{did}/relay` with `Upgrade: websocket`. Signed (the `auth` query parameter,
   * or an `Authorization` header, over GET and the relay path, as any request): verified before
   * the socket is accepted, so only the owner's sockets count against its cap. Unsigned: the
   * socket waits for a first-frame `connect` in a separate, smaller budget (`maxPendingSockets`).
   */
  async upgrade(ctx: RequestContext, did: string): Promise<Response> {
    const reg = this.host.registered(did);
    if (ctx.request.headers.get('upgrade')?.toLowerCase() !== 'websocket') {
      throw new HttpError(426, 'upgrade_required', 'the relay speaks WebSocket', { upgrade: 'websocket' });
    }
    const credentials = ctx.url.searchParams.get('auth') ?? ctx.request.headers.get('authorization');
    if (credentials !== null) return this.#signedUpgrade(ctx, reg, credentials);
    const pair = new WebSocketPair();
    const server = pair[1];
    this.#makeRoomForWaiting(clientAddress(ctx.request));
    this.host.state.acceptWebSocket(server);
    server.serializeAttachment({
      authed: false, address: clientAddress(ctx.request), openedAt: ctx.now, lastSeen: ctx.now, sent: 0, held: 0, since: 0, pageAt: 0,
    } satisfies SocketState);
    await this.scheduleAlarm(ctx.now + this.host.config.connectTimeoutMs);
    return new Response(null, { status: 101, webSocket: pair[0] });
  }

  async #signedUpgrade(ctx: RequestContext, reg: Registration, credentials: string): Promise<Response> {
    let refused: { close: number; status: number; code: string; message: string } | null = null;
    try {
      // The signed path is the relay path alone: the query carries the signature.
      await this.host.authenticateOwner({ ...ctx, signedPath: relayPath(reg.did), authorization: credentials }, reg.did, null);
    } catch (e) {
      if (e instanceof RequestAuthError) refused = { close: CLOSE.unauthenticated, status: 401, code: e.code, message: e.message };
      else if (e instanceof HttpError && e.status === 403) refused = { close: CLOSE.forbidden, status: 403, code: e.code, message: e.message };
      else throw e;
    }
    const pair = new WebSocketPair();
    const server = pair[1];
    if (refused) {
      // Said over a socket that is closed at once and never kept: a browser cannot read the
      // status of a refused upgrade, and these close codes tell a client to stop retrying.
      server.accept();
      this.#sendError(server, refused.status, refused.code, refused.message);
      this.#close(server, refused.close, refused.code);
      return new Response(null, { status: 101, webSocket: pair[0] });
    }
    this.host.state.acceptWebSocket(server);
    const state: SocketState = {
      authed: true, upgraded: true, openedAt: ctx.now, lastSeen: ctx.now, sent: 0, held: 0, since: this.host.store.lastSeq(), pageAt: 0,
    };
    server.serializeAttachment(state);
    await this.#opened(server, state, reg.did, ctx.now);
    return new Response(null, { status: 101, webSocket: pair[0] });
  }

  /** Closes the oldest waiting sockets beyond the per-address and per-agent budgets, before one more is accepted. */
  #makeRoomForWaiting(address: string): void {
    const { maxPendingSockets, maxPendingSocketsPerAddress } = this.host.config;
    const waiting = this.#sockets((s) => !s.authed).sort((a, b) => a.state.openedAt - b.state.openedAt);
    const mine = waiting.filter((s) => s.state.address === address);
    const evict = new Set(mine.slice(0, Math.max(0, mine.length - maxPendingSocketsPerAddress + 1)).map((s) => s.ws));
    const rest = waiting.filter((s) => !evict.has(s.ws));
    for (const s of rest.slice(0, Math.max(0, rest.length - maxPendingSockets + 1))) evict.add(s.ws);
    for (const ws of evict) this.#close(ws, CLOSE.timeout, 'too many sockets wait for connect');
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
          this.#touch(now);
          this.#send(ws, createFrame('heartbeat', RELAY_ADDRESS, did));
          return;
        case 'ack': {
          if (frame.from !== did) return this.#sendError(ws, 403, 'forbidden', 'acks come from this agent', frame.id);
          const { sender, ackId } = checkAckFrame(frame);
          this.#acknowledge(sender, ackId);
          return this.#pumpAll(now);
        }
        case 'connect':
          // Clients sign the upgrade and also send `connect` for relays that predate it. It is
          // not needed here, but its signature is spent all the same: whoever sees the frame
          // must not be able to open a socket as this agent with it.
          if (state.upgraded) {
            const reg = this.host.store.registration();
            await this.#verifyConnect(reg!, frame, now).catch(() => undefined);
            return;
          }
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
    try {
      await this.#verifyConnect(reg, frame, now);
    } catch (e) {
      if (e instanceof RequestAuthError) return fail(CLOSE.unauthenticated, 401, e.code, e.message);
      throw e;
    }
    if (ws.readyState !== WS_OPEN) return;
    state.authed = true;
    state.lastSeen = now;
    state.since = this.host.store.lastSeq();
    delete state.address;
    ws.serializeAttachment(state);
    await this.#opened(ws, state, reg.did, now);
  }

  /** Verifies a `connect` frame's signature for `reg` and spends it (the replay cache); throws `RequestAuthError`. */
  async #verifyConnect(reg: Registration, frame: Frame, now: number): Promise<void> {
    const auth = frame.auth as { timestamp?: unknown; signature?: unknown } | undefined;
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
  }

  /** An authenticated socket: replaces the oldest beyond the cap, says `connected`, then sends the first page. */
  async #opened(ws: WebSocket, state: SocketState, did: string, now: number): Promise<void> {
    this.#limitSockets(ws);
    this.#touch(now, true);
    this.#send(ws, createFrame('connected', RELAY_ADDRESS, did, {
      version: FRAME_VERSION,
      heartbeat_seconds: this.host.config.heartbeatMs / 1000,
      pending: this.host.store.inboxCount(),
    }));
    await this.scheduleAlarm(now + this.host.config.offlineAfterMs);
    const retryAt = this.#pump(ws, state, now);
    if (retryAt !== null) await this.scheduleAlarm(retryAt);
  }

  // Paging

  /**
   * Sends a socket the next stored frames, in arrival order (each sender's send order), while
   * fewer than `backlogWindowFrames` frames and `backlogWindowBytes` bytes it was sent wait for
   * its ack; one frame larger than the window goes alone. So a connect with a full inbox holds
   * one page in memory, not the inbox. Returns when to try again if frames wait behind a full
   * window (frames unacknowledged for `backlogHoldMs` then stop holding it), else null.
   */
  #pump(ws: WebSocket, state: SocketState, now: number): number | null {
    const { store, config: c } = this.host;
    if (!state.authed || ws.readyState !== WS_OPEN) return null;
    if (state.pageAt > 0 && now - state.pageAt >= c.backlogHoldMs && state.held < state.sent) {
      state.held = state.sent;
      ws.serializeAttachment(state);
    }
    const flight = store.inFlight(state.held, state.sent, state.since);
    const maxFrames = c.backlogWindowFrames - flight.count;
    const maxBytes = c.backlogWindowBytes - flight.bytes;
    const page = maxFrames > 0 && (maxBytes > 0 || flight.count === 0)
      ? store.page({ after: state.sent, pushedAfter: state.since, maxFrames, maxBytes: Math.max(0, maxBytes), firstMayExceed: flight.count === 0 })
      : [];
    for (const row of page) {
      try {
        ws.send(row.frame);
      } catch {
        break; // Closing: the rest goes on the next connection.
      }
      state.sent = row.seq;
      state.pageAt = now;
    }
    if (page.length > 0) ws.serializeAttachment(state);
    if (store.lastSeq() <= state.sent) return null;
    return (state.pageAt || now) + c.backlogHoldMs;
  }

  /** Pumps every online socket (after acks and purges free the window), and plans the retry. */
  async #pumpAll(now: number): Promise<void> {
    let retryAt: number | null = null;
    for (const { ws, state } of this.#onlineSockets(now)) {
      const at = this.#pump(ws, state, now);
      if (at !== null) retryAt = retryAt === null ? at : Math.min(retryAt, at);
    }
    if (retryAt !== null) await this.scheduleAlarm(retryAt);
  }

  /** A frame just stored: urgent ones go to every online socket at once; others through the page window. */
  #pushNew(seq: number, frameText: string, urgent: boolean, now: number): boolean {
    let pushed = false;
    for (const { ws, state } of this.#onlineSockets(now)) {
      if (urgent) {
        try {
          ws.send(frameText);
          pushed = true;
        } catch {
          // A socket closing under us: the frame stays stored and goes out on reconnect.
        }
        continue;
      }
      this.#pump(ws, state, now);
      if (state.sent >= seq) pushed = true;
    }
    return pushed;
  }

  /** Stores when the agent was last seen, at most once per heartbeat interval (a heartbeat is not a write). */
  #touch(now: number, force = false): void {
    const stored = Number(this.host.store.getMeta('last_seen') ?? 0);
    if (force || now - stored >= this.host.config.heartbeatMs) this.host.store.setMeta('last_seen', String(now));
  }

  /** Keeps the newest authenticated sockets; older ones beyond the cap are closed. */
  #limitSockets(newest: WebSocket): void {
    const authed = this.#sockets((s) => s.authed).filter((s) => s.ws !== newest);
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
        continue;
      }
      next = next === null ? deadline : Math.min(next, deadline);
      const retryAt = this.#pump(ws, state, now);
      if (retryAt !== null) next = Math.min(next, retryAt);
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

  /** Open sockets whose state matches. */
  #sockets(match: (state: SocketState) => boolean): { ws: WebSocket; state: SocketState }[] {
    const out: { ws: WebSocket; state: SocketState }[] = [];
    for (const ws of this.host.state.getWebSockets()) {
      const state = ws.deserializeAttachment() as SocketState | null;
      if (state && ws.readyState === WS_OPEN && match(state)) out.push({ ws, state });
    }
    return out;
  }

  #onlineSockets(now: number) {
    return this.#sockets((s) => s.authed && now - s.lastSeen < this.host.config.offlineAfterMs);
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
